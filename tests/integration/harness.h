#pragma once
// Integration-test harness: real child processes (the gateway, the test upstream) and a small
// blocking HTTP client. Everything here waits with a timeout, so a broken server fails a test
// instead of hanging it. Not thread-safe unless stated; one test thread drives it.
#include <boost/json/value.hpp>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

#include "support/temp_dir.h"  // TempDir

namespace triage::testing {

using Millis = std::chrono::milliseconds;

// Paths of the binaries under test (from TRIAGE_BINARY_DIR).
std::string gateway_binary();   // <build>/bin/triage
std::string upstream_binary();  // <build>/bin/triage-test-upstream

// A child process with its stdout and stderr captured line by line (by two reader threads).
// The destructor sends SIGTERM, waits up to 5 s, then SIGKILLs. The child also gets SIGKILL if
// the test process dies (PR_SET_PDEATHSIG), so no process outlives a crashed test.
class ChildProcess {
 public:
  // `env` entries are added to (or replace those of) the current environment.
  ChildProcess(std::string path, std::vector<std::string> args,
               std::map<std::string, std::string> env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The first stdout line starting with `prefix`, waiting up to `timeout`; nullopt on timeout or
  // when the child closed stdout (exited) without printing it.
  std::optional<std::string> wait_for_line(const std::string& prefix, Millis timeout);
  std::vector<std::string> stdout_lines() const;
  // Waits until the child's stdout and stderr were read to their end (after it exited, so that
  // stdout_lines() and stderr_text() are complete); false on timeout.
  bool wait_output_closed(Millis timeout);
  std::string stderr_text() const;
  // Sends SIGTERM and waits up to `timeout` for the exit; returns the exit status as from
  // waitpid (use WIFEXITED/WEXITSTATUS), or nullopt if it did not exit in time (then it is
  // left running for the destructor).
  std::optional<int> terminate(Millis timeout);
  // Waits up to `timeout` for the child to exit by itself.
  std::optional<int> wait_exit(Millis timeout);
  bool running();

 private:
  void read_loop(int fd, bool is_stdout);

  pid_t pid_ = -1;
  std::optional<int> status_;
  std::thread out_reader_, err_reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> out_lines_;  // guarded by mu_
  std::string err_text_;                // guarded by mu_
  bool out_closed_ = false;             // guarded by mu_
  bool err_closed_ = false;             // guarded by mu_
};

// One run of the triage binary as a command-line tool (`report`, `export`, `train` ...): waits
// up to 2 minutes; exit_code -1 when it did not exit normally.
struct CliRun {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
CliRun run_cli(std::vector<std::string> args);

struct HttpResponse {
  int status = 0;                              // 0: transport failure, see `error`
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;                            // raw (de-chunked) body
  std::string error;                           // transport error, empty if none
  bool complete = false;                       // the whole message was read
  std::optional<Millis> first_body_byte;       // request sent -> first body byte
  Millis total{0};                             // request sent -> done

  std::string header(const std::string& lower_name) const;
  // The body as JSON; a null value when it does not parse.
  boost::json::value json() const;
};

// One HTTP/1.1 request on a fresh connection to 127.0.0.1:port, with an overall deadline.
// Never throws; transport failures and timeouts come back in `error` (with what was read).
HttpResponse http_request(int port, const std::string& method, const std::string& target,
                          const std::string& body = {},
                          const std::map<std::string, std::string>& headers = {},
                          Millis timeout = Millis(5000));
// Same, for streaming answers: reads the body as it arrives and records when the first body
// byte came. The SSE text is in `body`.
HttpResponse http_stream(int port, const std::string& target, const std::string& body,
                         const std::map<std::string, std::string>& headers = {},
                         Millis timeout = Millis(5000));

struct SseEvent {
  std::string event;  // the `event:` field, empty when absent
  std::string data;   // the `data:` lines joined with "\n"
};
std::vector<SseEvent> parse_sse(const std::string& text);

void write_file(const std::string& path, const std::string& text);
std::string read_file(const std::string& path);

// The test upstream on an ephemeral port.
class Upstream {
 public:
  explicit Upstream(int threads = 1);
  int port() const { return port_; }
  ChildProcess& process() { return *proc_; }
  // GET /_last_request as JSON (method, target, headers, body).
  boost::json::value last_request();
  int64_t request_count();  // GET /_stats

 private:
  std::unique_ptr<ChildProcess> proc_;
  int port_ = 0;
};

// The gateway (`triage serve -c <file>`), started on an ephemeral port from the YAML given.
class Gateway {
 public:
  Gateway(const std::string& config_path, std::map<std::string, std::string> env,
          std::vector<std::string> extra_args = {});
  int port() const { return port_; }  // 0 if it did not come up
  ChildProcess& process() { return *proc_; }

 private:
  std::unique_ptr<ChildProcess> proc_;
  int port_ = 0;
};

}  // namespace triage::testing
