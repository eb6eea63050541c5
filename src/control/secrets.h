#pragma once
// Secrets of clients and operators: digests, declared secrets, new key generation and the
// constant-time admin token check. Plaintext secrets live only as long as the call that handles
// them; what is kept is a SHA-256 digest. Nothing here logs, and no type here prints a secret.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace triage::control {

using Sha256Digest = std::array<unsigned char, 32>;

// A secret from the environment or a client must be at least this long (a short secret can be
// guessed through the 401s). Generated keys are far longer.
inline constexpr std::size_t kMinSecretLength = 16;
// Every generated client key starts with this, so that secret scanners and people recognise one.
inline constexpr std::string_view kGeneratedKeyPrefix = "tri_";

Sha256Digest sha256(std::string_view data);
std::string to_hex(const Sha256Digest& digest);

// "key_" + the first 12 hex digits of the digest: the public id of a key in the store, metrics,
// logs and the admin API. It says which key without saying the key (48 bits of a one-way hash).
std::string key_id_from_digest(const Sha256Digest& digest);

// Constant-time equality (CRYPTO_memcmp): the time taken does not depend on where the digests
// differ.
bool digests_equal(const Sha256Digest& a, const Sha256Digest& b);

// A digest declared in config as 64 hex digits (either case). The error message says what is
// wrong with the value without echoing it.
Result<Sha256Digest> digest_from_hex(std::string_view hex);

// A secret read from an environment variable: `value` is getenv's answer (nullptr = unset).
// Refuses an unset, empty, short or whitespace-containing secret (a pasted line break would
// otherwise make a key no client can send). `env_name` appears in the error, the value never.
Result<Sha256Digest> digest_from_env_secret(std::string_view env_name, const char* value);

// A new client key: "tri_" + 48 hex digits (192 bits from OpenSSL RAND_bytes). The caller hands
// the plaintext to the operator once and keeps only sha256(secret). Fails only if the OpenSSL
// random generator does.
Result<std::string> generate_secret();

// The operator credential. Holds only the token's digest; matches() hashes what was presented
// and compares digests in constant time, so neither the token's length nor its content leaks
// through timing. Thread-safe (immutable after construction).
class AdminToken {
 public:
  // From the environment variable named in config (same rules as digest_from_env_secret).
  static Result<AdminToken> from_env(std::string_view env_name, const char* value);
  explicit AdminToken(const Sha256Digest& digest) : digest_(digest) {}

  bool matches(std::string_view presented) const;

 private:
  Sha256Digest digest_;
};

}  // namespace triage::control
