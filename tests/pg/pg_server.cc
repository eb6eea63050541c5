#include "pg_server.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace triage::testing {
namespace {

namespace fs = std::filesystem;

bool is_root() { return geteuid() == 0; }

int free_loopback_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

std::string shell_quote(const std::string& s) { return "'" + s + "'"; }

}  // namespace

std::string PgServer::bin_dir() {
  if (const char* env = std::getenv("TRIAGE_PG_BIN"); env && *env) {
    return fs::exists(fs::path(env) / "initdb") ? env : "";
  }
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    if (fs::exists(e.path() / "bin" / "initdb") && fs::exists(e.path() / "bin" / "pg_ctl")) {
      found.push_back((e.path() / "bin").string());
    }
  }
  if (found.empty()) return "";
  // The newest major version (directory names are numbers).
  std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
    return std::atoi(fs::path(a).parent_path().filename().c_str()) <
           std::atoi(fs::path(b).parent_path().filename().c_str());
  });
  return found.back();
}

int PgServer::run(const std::string& cmd) const {
  return std::system(
      ("cd /tmp && " + cmd + " >>" + shell_quote(dir_ + "/cmd.log") + " 2>&1").c_str());
}

std::string PgServer::pg_ctl(const std::string& args) const {
  return (is_root() ? "runuser -u postgres -- " : "") + shell_quote(bin_dir() + "/pg_ctl") +
         " -D " + shell_quote(dir_ + "/data") + " " + args;
}

std::string PgServer::log_tail() const {
  std::string out;
  for (const char* name : {"/cmd.log", "/server.log"}) {
    std::ifstream in(dir_ + name);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    if (s.size() > 2000) s = s.substr(s.size() - 2000);
    out += std::string(name) + ":\n" + s + "\n";
  }
  return out;
}

PgServer::PgServer() {
  const std::string bin = bin_dir();
  if (bin.empty()) throw std::runtime_error("PostgreSQL server binaries not found");
  std::string tmpl = "/tmp/triage-pg-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  fs::create_directories(dir_ + "/sock");
  if (is_root()) {
    // The server's own user must own its directories (it refuses to run as root).
    const passwd* pw = getpwnam("postgres");
    if (!pw) throw std::runtime_error("running as root and there is no `postgres` user");
    for (const std::string& p : {dir_, dir_ + "/sock"}) {
      if (chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("chown failed");
    }
  }
  const std::string initdb = (is_root() ? "runuser -u postgres -- " : "") +
                             shell_quote(bin + "/initdb") + " -D " + shell_quote(dir_ + "/data") +
                             " -U postgres --auth=trust -E UTF8 --no-locale -N";
  if (run(initdb) != 0) throw std::runtime_error("initdb failed:\n" + log_tail());
  // A port is free when we look; another process may take it before the server binds it.
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_loopback_port();
    opts_ = "-p " + std::to_string(port_) + " -k " + dir_ +
            "/sock -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c shared_buffers=16MB -c max_connections=40";
    if (start()) return;
  }
  const std::string log = log_tail();
  fs::remove_all(dir_);
  throw std::runtime_error("PostgreSQL did not start:\n" + log);
}

PgServer::~PgServer() {
  (void)run(pg_ctl("-m immediate -w stop"));
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string PgServer::conninfo(const std::string& dbname) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + dbname;
}

std::string PgServer::url(const std::string& dbname) const {
  return "postgres://postgres@127.0.0.1:" + std::to_string(port_) + "/" + dbname;
}

std::string PgServer::create_database() {
  std::string name = "t";  // (not "t" + ...: GCC 12 warns falsely, -Wrestrict)
  name += std::to_string(++next_db_);
  PGconn* c = PQconnectdb(conninfo().c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    const std::string msg = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("cannot connect to the test server: " + msg);
  }
  PGresult* r = PQexec(c, ("CREATE DATABASE " + name).c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  const std::string msg = PQerrorMessage(c);
  PQclear(r);
  PQfinish(c);
  if (!ok) throw std::runtime_error("CREATE DATABASE failed: " + msg);
  return name;
}

bool PgServer::stop() { return run(pg_ctl("-m fast -w -t 60 stop")) == 0; }
bool PgServer::start() {
  return run(pg_ctl("-l " + shell_quote(dir_ + "/server.log") + " -w -t 60 -o " +
                    shell_quote(opts_) + " start")) == 0;
}
bool PgServer::restart() {
  return run(pg_ctl("-l " + shell_quote(dir_ + "/server.log") + " -m fast -w -t 60 restart")) == 0;
}

PgServer& shared_pg_server() {
  static PgServer server;
  return server;
}

}  // namespace triage::testing
