// The real gateway (bin/triage) against a real HTTPS upstream (tests/upstream/tls_upstream.py,
// Python stdlib) whose certificates are made at test time with the `openssl` CLI: a private CA,
// a server certificate for IP:127.0.0.1 + DNS:localhost, and one for DNS:wrong.example only.
//
// The gateway trusts the private CA only when started with SSL_CERT_FILE=<ca.pem> (honoured by
// OpenSSL's default verify paths, which net::HttpClient loads); without it the CA is unknown.
// Nothing here is mocked: a regression in verification, SNI or host name checks fails a test.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>

#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

constexpr char kKey[] = "sk-test-TLS-SECRET-8d2b41";
constexpr Millis kRequestTimeout{2000};

// The absolute path of `name` found on PATH, or "" when it is not there.
std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// Runs `openssl args...` to completion (10 s at most); returns "" on success, else what went wrong.
std::string run_openssl(const std::string& openssl, std::vector<std::string> args) {
  ChildProcess p(openssl, std::move(args));
  auto st = p.wait_exit(Millis(10000));
  if (!st) return "openssl did not finish in 10 s";
  if (WIFEXITED(*st) && WEXITSTATUS(*st) == 0) return {};
  return "openssl failed: " + p.stderr_text();
}

// A private CA and two server certificates signed by it, all in `dir`.
struct Pki {
  std::string ca_pem, ok_pem, ok_key, wrong_pem, wrong_key;
};

std::string make_pki(const std::string& openssl, const TempDir& dir, Pki& out) {
  auto key = [&](const std::string& file) {
    return run_openssl(openssl, {"genpkey", "-algorithm", "EC", "-pkeyopt",
                                 "ec_paramgen_curve:P-256", "-out", dir.file(file)});
  };
  // Own config files, so that the system openssl.cnf cannot add or clash with extensions.
  write_file(dir.file("ca.cnf"),
             "[req]\ndistinguished_name = dn\nx509_extensions = v3_ca\nprompt = no\n"
             "[dn]\nCN = Triage Test CA\n"
             "[v3_ca]\nbasicConstraints = critical,CA:TRUE\n"
             "keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n");
  out.ca_pem = dir.file("ca.pem");
  if (auto e = key("ca.key"); !e.empty()) return e;
  if (auto e = run_openssl(openssl, {"req", "-x509", "-new", "-config", dir.file("ca.cnf"), "-key",
                                     dir.file("ca.key"), "-days", "2", "-out", out.ca_pem});
      !e.empty())
    return e;

  auto server = [&](const std::string& name, const std::string& cn, const std::string& san,
                    int serial) -> std::string {
    write_file(dir.file(name + ".cnf"),
               "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = " + cn + "\n"
               "[srv]\nbasicConstraints = critical,CA:FALSE\n"
               "keyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n"
               "subjectAltName = " + san + "\n");
    if (auto e = key(name + ".key"); !e.empty()) return e;
    if (auto e = run_openssl(openssl, {"req", "-new", "-config", dir.file(name + ".cnf"), "-key",
                                       dir.file(name + ".key"), "-out", dir.file(name + ".csr")});
        !e.empty())
      return e;
    return run_openssl(openssl, {"x509", "-req", "-in", dir.file(name + ".csr"), "-CA", out.ca_pem,
                                 "-CAkey", dir.file("ca.key"), "-set_serial",
                                 std::to_string(serial), "-days", "2", "-extfile",
                                 dir.file(name + ".cnf"), "-extensions", "srv", "-out",
                                 dir.file(name + ".pem")});
  };
  out.ok_pem = dir.file("ok.pem");
  out.ok_key = dir.file("ok.key");
  out.wrong_pem = dir.file("wrong.pem");
  out.wrong_key = dir.file("wrong.key");
  if (auto e = server("ok", "localhost", "IP:127.0.0.1, DNS:localhost", 2); !e.empty()) return e;
  return server("wrong", "wrong.example", "DNS:wrong.example", 3);
}

std::string str(const json::value& v) { return v.is_string() ? std::string(v.get_string()) : ""; }

std::string chat(const std::string& model, bool stream) {
  return R"({"model":")" + model + R"(","stream":)" + (stream ? "true" : "false") +
         R"(,"messages":[{"role":"user","content":"hello over tls"}]})";
}

class GatewayTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    openssl_ = find_program("openssl");
    python_ = find_program("python3");
    ASSERT_FALSE(openssl_.empty()) << "the openssl CLI is required (scripts/setup.sh installs it)";
    ASSERT_FALSE(python_.empty()) << "python3 is required (scripts/setup.sh installs it)";
    ASSERT_TRUE(std::filesystem::exists(gateway_binary())) << gateway_binary();
    std::string err = make_pki(openssl_, dir_, pki_);
    ASSERT_TRUE(err.empty()) << err;
  }

  // Starts the HTTPS upstream serving `cert`; returns its port (0 if it did not come up).
  int start_upstream(const std::string& cert, const std::string& key) {
    upstream_ = std::make_unique<ChildProcess>(
        python_, std::vector<std::string>{std::string(TRIAGE_SOURCE_DIR) +
                                              "/tests/upstream/tls_upstream.py",
                                          "--cert", cert, "--key", key, "--port", "0"});
    auto line = upstream_->wait_for_line("listening on ", Millis(5000));
    if (!line) return 0;
    return std::atoi(line->c_str() + std::strlen("listening on "));
  }

  // Starts the gateway with models `tls-ip` (https://127.0.0.1:<port>/v1) and `tls-dns`
  // (https://localhost:<port>/v1); it trusts the private CA only when `trust_ca`.
  int start_gateway(int upstream_port, bool trust_ca) {
    auto model = [&](const std::string& name, const std::string& host) {
      return "  - name: " + name + "\n    provider: openai\n    endpoint: https://" + host + ":" +
             std::to_string(upstream_port) +
             "/v1\n    api_key_env: TEST_UPSTREAM_KEY\n    upstream_model: gpt-tls\n"
             "    tier: small\n    timeout_ms: 1500\n";
    };
    write_file(dir_.file("triage.yaml"),
               "server: {host: 127.0.0.1, port: 0, threads: 2}\n"
               "store: {type: sqlite, path: " + dir_.file("triage.db") + "}\n"
               "models:\n" + model("tls-ip", "127.0.0.1") + model("tls-dns", "localhost") +
               "routes:\n  - name: support\n    type: model\n    model: tls-ip\n");
    std::map<std::string, std::string> env{{"TEST_UPSTREAM_KEY", kKey}};
    // OpenSSL's default verify paths honour SSL_CERT_FILE. Without it the gateway has only the
    // system store, which cannot hold a CA made a moment ago.
    if (trust_ca) env["SSL_CERT_FILE"] = pki_.ca_pem;
    gateway_ = std::make_unique<Gateway>(dir_.file("triage.yaml"), std::move(env));
    return gateway_->port();
  }

  HttpResponse post(const std::string& body) {
    return http_request(gateway_->port(), "POST", "/v1/chat/completions", body, {},
                        kRequestTimeout);
  }

  // Asserts a 502 OpenAI error that names neither the upstream origin (docs/security.md: the
  // detail goes to the log and the store) nor the key.
  std::string expect_bad_gateway(const HttpResponse& r, const std::string& origin) {
    EXPECT_EQ(r.status, 502) << r.body << r.error;
    auto v = r.json();
    if (!v.is_object() || !v.as_object().contains("error")) {
      ADD_FAILURE() << "not an OpenAI error body: " << r.body;
      return {};
    }
    std::string msg = str(v.at("error").at("message"));
    EXPECT_EQ(msg.find(origin), std::string::npos) << msg;
    EXPECT_EQ(r.body.find(kKey), std::string::npos) << r.body;
    return msg;
  }

  // Stops the gateway and returns its log, where a failure's detail is written (warn).
  std::string gateway_log() {
    gateway_->process().terminate(Millis(10000));
    EXPECT_TRUE(gateway_->process().wait_output_closed(Millis(5000)));
    std::string log;
    for (const auto& line : gateway_->process().stdout_lines()) log += line + "\n";
    return log + gateway_->process().stderr_text();
  }

  std::string openssl_, python_;
  TempDir dir_;
  Pki pki_;
  std::unique_ptr<ChildProcess> upstream_;
  std::unique_ptr<Gateway> gateway_;
};

TEST_F(GatewayTlsTest, TrustedCaAndMatchingNameServeCompletions) {
  int up = start_upstream(pki_.ok_pem, pki_.ok_key);
  ASSERT_GT(up, 0) << "TLS upstream did not start:\n" << upstream_->stderr_text();
  ASSERT_GT(start_gateway(up, true), 0) << gateway_->process().stderr_text();

  // IP literal endpoint (no SNI, the certificate's IP SAN is checked), twice: the second call
  // goes over the pooled TLS connection. Then a DNS endpoint (SNI + DNS SAN).
  for (const char* model : {"tls-ip", "tls-ip", "tls-dns"}) {
    auto r = post(chat(model, false));
    ASSERT_EQ(r.status, 200) << model << ": " << r.body << r.error;
    auto v = r.json();
    ASSERT_TRUE(v.is_object()) << r.body;
    EXPECT_EQ(str(v.at("choices").at(0).at("message").at("content")), "echo: hello over tls");
    EXPECT_EQ(v.at("usage").at("prompt_tokens").to_number<int64_t>(), 3);
    EXPECT_EQ(v.at("usage").at("completion_tokens").to_number<int64_t>(), 4);
    EXPECT_EQ(r.header("x-triage-model"), model);
  }
}

TEST_F(GatewayTlsTest, UntrustedCertificateIsRejected) {
  int up = start_upstream(pki_.ok_pem, pki_.ok_key);
  ASSERT_GT(up, 0) << "TLS upstream did not start:\n" << upstream_->stderr_text();
  ASSERT_GT(start_gateway(up, false), 0) << gateway_->process().stderr_text();

  std::string origin = "https://127.0.0.1:" + std::to_string(up);
  expect_bad_gateway(post(chat("tls-ip", false)), origin);
  const std::string log = gateway_log();
  EXPECT_NE(log.find("TLS handshake with upstream " + origin), std::string::npos) << log;
  EXPECT_NE(log.find("certificate verify failed: unable to get local issuer certificate"),
            std::string::npos)
      << log;
}

TEST_F(GatewayTlsTest, CertificateForAnotherHostIsRejected) {
  int up = start_upstream(pki_.wrong_pem, pki_.wrong_key);
  ASSERT_GT(up, 0) << "TLS upstream did not start:\n" << upstream_->stderr_text();
  ASSERT_GT(start_gateway(up, true), 0) << gateway_->process().stderr_text();

  // The chain is trusted; only the name is wrong, for an IP endpoint and for a DNS endpoint.
  std::string ip_origin = "https://127.0.0.1:" + std::to_string(up);
  expect_bad_gateway(post(chat("tls-ip", false)), ip_origin);
  std::string dns_origin = "https://localhost:" + std::to_string(up);
  expect_bad_gateway(post(chat("tls-dns", false)), dns_origin);
  const std::string log = gateway_log();
  EXPECT_NE(log.find("TLS handshake with upstream " + ip_origin), std::string::npos) << log;
  EXPECT_NE(log.find("certificate verify failed: IP address mismatch"), std::string::npos) << log;
  EXPECT_NE(log.find("certificate verify failed: hostname mismatch"), std::string::npos) << log;
}

TEST_F(GatewayTlsTest, StreamingOverTls) {
  int up = start_upstream(pki_.ok_pem, pki_.ok_key);
  ASSERT_GT(up, 0) << "TLS upstream did not start:\n" << upstream_->stderr_text();
  ASSERT_GT(start_gateway(up, true), 0) << gateway_->process().stderr_text();

  auto r = http_stream(gateway_->port(), "/v1/chat/completions", chat("tls-ip", true), {},
                       kRequestTimeout);
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_TRUE(r.complete) << r.error;
  EXPECT_NE(r.header("content-type").find("text/event-stream"), std::string::npos);
  std::string text;
  bool done = false;
  for (const auto& e : parse_sse(r.body)) {
    if (e.data == "[DONE]") {
      done = true;
      continue;
    }
    boost::system::error_code ec;
    auto v = json::parse(e.data, ec);
    ASSERT_FALSE(ec) << e.data;
    auto* choices = v.as_object().if_contains("choices");
    if (!choices || choices->as_array().empty()) continue;
    if (auto* c = choices->as_array()[0].at("delta").as_object().if_contains("content"))
      text += str(*c);
  }
  EXPECT_EQ(text, "echo: hello over tls") << r.body;
  EXPECT_TRUE(done) << r.body;
}

}  // namespace
}  // namespace triage::testing
