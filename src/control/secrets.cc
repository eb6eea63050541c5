#include "control/secrets.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cctype>
#include <memory>

namespace triage::control {

namespace {
constexpr char kHex[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_hex(std::string& out, const unsigned char* bytes, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 0xf];
  }
}
}  // namespace

Sha256Digest sha256(std::string_view data) {
  // Every request hashes its key. OpenSSL 3's one-shot SHA256() looks the algorithm up each
  // time (~500 ns here); a digest fetched once and a context per thread take ~120 ns.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct CtxFree {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  thread_local std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  Sha256Digest d{};
  unsigned int len = 0;
  if (kSha256 == nullptr || ctx == nullptr || EVP_DigestInit_ex(ctx.get(), kSha256, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), d.data(), &len) != 1) {
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d.data());
  }
  return d;
}

std::string to_hex(const Sha256Digest& digest) {
  std::string out;
  out.reserve(digest.size() * 2);
  append_hex(out, digest.data(), digest.size());
  return out;
}

std::string key_id_from_digest(const Sha256Digest& digest) {
  std::string id = "key_";
  append_hex(id, digest.data(), 6);
  return id;
}

bool digests_equal(const Sha256Digest& a, const Sha256Digest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<Sha256Digest> digest_from_hex(std::string_view hex) {
  if (hex.size() != 64) {
    return make_error(ErrorCode::kInvalidRequest,
                      "sha256 must be 64 hex digits (the SHA-256 of the key, e.g. from "
                      "`printf %s \"$KEY\" | sha256sum`); got " +
                          std::to_string(hex.size()) + " characters");
  }
  Sha256Digest d{};
  for (std::size_t i = 0; i < d.size(); ++i) {
    const int hi = hex_value(hex[2 * i]);
    const int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      const std::size_t at = hi < 0 ? 2 * i : 2 * i + 1;
      return make_error(ErrorCode::kInvalidRequest, "sha256 must be 64 hex digits; character " +
                                                        std::to_string(at + 1) +
                                                        " is not a hex digit");
    }
    d[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return d;
}

Result<Sha256Digest> digest_from_env_secret(std::string_view env_name, const char* value) {
  const std::string var(env_name);
  if (value == nullptr || *value == '\0') {
    return make_error(ErrorCode::kInvalidRequest,
                      "environment variable " + var + " (a secret) is not set or is empty");
  }
  const std::string_view secret(value);
  for (char c : secret) {
    if (std::isspace(static_cast<unsigned char>(c)) ||
        std::iscntrl(static_cast<unsigned char>(c))) {
      return make_error(ErrorCode::kInvalidRequest,
                        "environment variable " + var +
                            " contains whitespace or a control character (a pasted line "
                            "break?); a client could never send that secret");
    }
  }
  if (secret.size() < kMinSecretLength) {
    return make_error(ErrorCode::kInvalidRequest,
                      "environment variable " + var + " holds a secret of " +
                          std::to_string(secret.size()) + " characters; use at least " +
                          std::to_string(kMinSecretLength) + " (e.g. `openssl rand -hex 24`)");
  }
  return sha256(secret);
}

Result<std::string> generate_secret() {
  unsigned char bytes[24];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return make_error(ErrorCode::kInternal, "could not generate a key",
                      "OpenSSL RAND_bytes failed");
  }
  std::string secret(kGeneratedKeyPrefix);
  append_hex(secret, bytes, sizeof bytes);
  OPENSSL_cleanse(bytes, sizeof bytes);
  return secret;
}

Result<AdminToken> AdminToken::from_env(std::string_view env_name, const char* value) {
  auto digest = digest_from_env_secret(env_name, value);
  if (!digest) return std::move(digest).error();
  return AdminToken(digest.value());
}

bool AdminToken::matches(std::string_view presented) const {
  // Hash first: comparing digests of fixed length hides the token's length, and the hash of an
  // attacker's guess says nothing about the token.
  return digests_equal(sha256(presented), digest_);
}

}  // namespace triage::control
