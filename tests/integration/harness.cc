#include "harness.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace triage::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

Millis since(Clock::time_point t) {
  return std::chrono::duration_cast<Millis>(Clock::now() - t);
}

// Waits up to timeout for the child to change state; returns true if it has exited (status set).
bool wait_pid(pid_t pid, Millis timeout, int& status) {
  auto deadline = Clock::now() + timeout;
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (pidfd >= 0) ::close(pidfd);
      return true;
    }
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (left.count() <= 0) break;
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left.count()));
    } else {
      ::usleep(5000);  // no pidfd (old kernel): poll waitpid
    }
  }
  if (pidfd >= 0) ::close(pidfd);
  return false;
}

}  // namespace

std::string gateway_binary() { return std::string(TRIAGE_BINARY_DIR) + "/bin/triage"; }
std::string upstream_binary() { return std::string(TRIAGE_BINARY_DIR) + "/bin/triage-test-upstream"; }

// ---- ChildProcess -----------------------------------------------------------------------------

ChildProcess::ChildProcess(std::string path, std::vector<std::string> args,
                           std::map<std::string, std::string> env) {
  // Everything the child needs is prepared before fork: after it only async-signal-safe calls.
  std::vector<std::string> argv_s{path};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    auto name = std::string(kv.substr(0, kv.find('=')));
    if (!env.count(name)) env_s.emplace_back(kv);
  }
  for (auto& [k, v] : env) env_s.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe2 failed");
  pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  out_reader_ = std::thread([this, fd = out[0]] { read_loop(fd, true); });
  err_reader_ = std::thread([this, fd = err[0]] { read_loop(fd, false); });
}

ChildProcess::~ChildProcess() {
  if (!status_) {
    if (!terminate(Millis(5000))) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
      status_ = st;
    }
  }
  if (out_reader_.joinable()) out_reader_.join();
  if (err_reader_.joinable()) err_reader_.join();
  if (::testing::Test::HasFailure()) {
    std::lock_guard lock(mu_);
    if (!err_text_.empty()) std::fprintf(stderr, "---- stderr of pid %d:\n%s----\n", pid_, err_text_.c_str());
  }
}

void ChildProcess::read_loop(int fd, bool is_stdout) {
  std::string partial;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::lock_guard lock(mu_);
    if (!is_stdout) {
      err_text_.append(buf, static_cast<size_t>(n));
      continue;
    }
    partial.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = partial.find('\n')) != std::string::npos) {
      out_lines_.push_back(partial.substr(0, nl));
      partial.erase(0, nl + 1);
    }
    cv_.notify_all();
  }
  ::close(fd);
  std::lock_guard lock(mu_);
  if (is_stdout) {
    if (!partial.empty()) out_lines_.push_back(partial);
    out_closed_ = true;
  } else {
    err_closed_ = true;
  }
  cv_.notify_all();
}

bool ChildProcess::wait_output_closed(Millis timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return out_closed_ && err_closed_; });
}

std::optional<std::string> ChildProcess::wait_for_line(const std::string& prefix, Millis timeout) {
  std::unique_lock lock(mu_);
  std::optional<std::string> found;
  cv_.wait_for(lock, timeout, [&] {
    for (const auto& l : out_lines_) {
      if (l.rfind(prefix, 0) == 0) {
        found = l;
        return true;
      }
    }
    return out_closed_;
  });
  return found;
}

std::vector<std::string> ChildProcess::stdout_lines() const {
  std::lock_guard lock(mu_);
  return out_lines_;
}

std::string ChildProcess::stderr_text() const {
  std::lock_guard lock(mu_);
  return err_text_;
}

std::optional<int> ChildProcess::wait_exit(Millis timeout) {
  if (status_) return status_;
  int st = 0;
  if (wait_pid(pid_, timeout, st)) status_ = st;
  return status_;
}

std::optional<int> ChildProcess::terminate(Millis timeout) {
  if (status_) return status_;
  ::kill(pid_, SIGTERM);
  return wait_exit(timeout);
}

bool ChildProcess::running() { return !wait_exit(Millis(0)).has_value(); }

CliRun run_cli(std::vector<std::string> args) {
  ChildProcess p(gateway_binary(), std::move(args));
  CliRun r;
  auto status = p.wait_exit(Millis(120000));
  p.wait_output_closed(Millis(5000));
  for (const auto& l : p.stdout_lines()) r.out += l + "\n";
  r.err = p.stderr_text();
  if (status && WIFEXITED(*status)) r.exit_code = WEXITSTATUS(*status);
  return r;
}

// ---- HTTP client -----------------------------------------------------------------------------

std::string HttpResponse::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

boost::json::value HttpResponse::json() const {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  return ec ? boost::json::value() : v;
}

namespace {

asio::awaitable<void> do_request(int port, const std::string& method, const std::string& target,
                                 const std::string& body,
                                 const std::map<std::string, std::string>& headers, Millis timeout,
                                 HttpResponse& out) {
  auto start = Clock::now();
  auto deadline = start + timeout;
  auto fail = [&](const char* what, const boost::system::error_code& ec) {
    out.error = std::string(what) + ": " + ec.message();
  };
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_at(deadline);
  auto tok = asio::as_tuple(asio::use_awaitable);
  asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
  if (auto [ec] = co_await stream.async_connect(ep, tok); ec) {
    fail("connect", ec);
    co_return;
  }
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  bool has_ct = false;
  for (const auto& [k, v] : headers) {
    req.set(k, v);
    if (beast::iequals(k, "content-type")) has_ct = true;
  }
  if (!body.empty() && !has_ct) req.set(http::field::content_type, "application/json");
  req.body() = body;
  if (!body.empty() || method == "POST") req.prepare_payload();
  if (auto [ec, n] = co_await http::async_write(stream, req, tok); ec) {
    fail("write", ec);
    co_return;
  }
  auto sent = Clock::now();
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256u << 20);
  if (auto [ec, n] = co_await http::async_read_header(stream, buf, parser, tok); ec) {
    fail("read header", ec);
    co_return;
  }
  out.status = static_cast<int>(parser.get().result_int());
  for (const auto& f : parser.get()) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(f.value());
  }
  while (!parser.is_done()) {
    auto [ec, n] = co_await http::async_read_some(stream, buf, parser, tok);
    if (!out.first_body_byte && !parser.get().body().empty()) out.first_body_byte = since(sent);
    if (ec) {
      fail("read body", ec);
      break;
    }
  }
  out.complete = parser.is_done();
  out.body = std::move(parser.get().body());
  out.total = since(sent);
  boost::system::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

}  // namespace

HttpResponse http_request(int port, const std::string& method, const std::string& target,
                          const std::string& body, const std::map<std::string, std::string>& headers,
                          Millis timeout) {
  HttpResponse out;
  asio::io_context ioc;
  asio::co_spawn(ioc, do_request(port, method, target, body, headers, timeout, out),
                 [&out](std::exception_ptr e) {
                   if (!e) return;
                   try {
                     std::rethrow_exception(e);
                   } catch (const std::exception& ex) {
                     out.error = std::string("exception: ") + ex.what();
                   }
                 });
  ioc.run();
  return out;
}

HttpResponse http_stream(int port, const std::string& target, const std::string& body,
                         const std::map<std::string, std::string>& headers, Millis timeout) {
  return http_request(port, "POST", target, body, headers, timeout);
}

std::vector<SseEvent> parse_sse(const std::string& text) {
  std::vector<SseEvent> events;
  SseEvent cur;
  bool has_data = false;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      if (has_data || !cur.event.empty()) events.push_back(cur);
      cur = {};
      has_data = false;
      continue;
    }
    if (line[0] == ':') continue;  // comment / keep-alive
    auto colon = line.find(':');
    std::string field = line.substr(0, colon);
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    if (field == "event") {
      cur.event = value;
    } else if (field == "data") {
      if (has_data) cur.data += "\n";
      cur.data += value;
      has_data = true;
    }
  }
  if (has_data) events.push_back(cur);  // unterminated last event (cut stream)
  return events;
}

// ---- files -----------------------------------------------------------------------------------

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// ---- processes under test --------------------------------------------------------------------

Upstream::Upstream(int threads) {
  proc_ = std::make_unique<ChildProcess>(
      upstream_binary(),
      std::vector<std::string>{"--port", "0", "--threads", std::to_string(threads)});
  if (auto line = proc_->wait_for_line("listening on ", Millis(5000)))
    port_ = std::atoi(line->c_str() + std::strlen("listening on "));
}

boost::json::value Upstream::last_request() {
  return http_request(port_, "GET", "/_last_request").json();
}

int64_t Upstream::request_count() {
  auto v = http_request(port_, "GET", "/_stats").json();
  auto* o = v.if_object();
  if (!o || !o->contains("requests")) return -1;
  return o->at("requests").to_number<int64_t>();
}

Gateway::Gateway(const std::string& config_path, std::map<std::string, std::string> env,
                 std::vector<std::string> extra_args) {
  std::vector<std::string> args{"serve", "-c", config_path};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  proc_ = std::make_unique<ChildProcess>(gateway_binary(), std::move(args), std::move(env));
  const std::string prefix = "triage: listening on http://";
  if (auto line = proc_->wait_for_line(prefix, Millis(10000))) {
    auto colon = line->rfind(':');
    if (colon != std::string::npos) port_ = std::atoi(line->c_str() + colon + 1);
  }
}

}  // namespace triage::testing
