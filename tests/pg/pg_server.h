#pragma once
// A throwaway PostgreSQL server for tests (unit and integration share it): a fresh data
// directory under /tmp, a free loopback port, a unix socket directory of its own, trust
// authentication, stopped and deleted when the object goes. PostgreSQL refuses to run as root:
// when the test runs as root the server runs as the `postgres` OS user (runuser).
//
// Tests skip (GTEST_SKIP, see TRIAGE_PG_SERVER_OR_SKIP) only when the server binaries are
// absent; any other failure to start fails the test.
#include <memory>
#include <string>

namespace triage::testing {

class PgServer {
 public:
  // The directory holding initdb, pg_ctl and postgres ($TRIAGE_PG_BIN, else the newest
  // /usr/lib/postgresql/*/bin); empty when there is none.
  static std::string bin_dir();

  // Starts a server; throws std::runtime_error (with the server's log) when it cannot.
  PgServer();
  ~PgServer();  // pg_ctl stop -m immediate, then removes the data directory
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  int port() const { return port_; }
  // libpq key=value connection string to `dbname` over TCP on 127.0.0.1.
  std::string conninfo(const std::string& dbname = "postgres") const;
  // postgres://postgres@127.0.0.1:PORT/dbname
  std::string url(const std::string& dbname = "postgres") const;
  // Creates a fresh database and returns its name ("t1", "t2", ...).
  std::string create_database();

  // pg_ctl stop -m fast / start / restart -m fast; true on success (blocking until done).
  bool stop();
  bool start();
  bool restart();

 private:
  std::string pg_ctl(const std::string& args) const;  // the command line, as the right user
  int run(const std::string& cmd) const;
  std::string log_tail() const;

  std::string dir_;  // data directory parent: data/, sock/, log
  int port_ = 0;
  std::string opts_;  // the server's command-line options (port, socket dir, settings)
  int next_db_ = 0;
};

// The server for this test process, started on first use and stopped at exit (one per
// process: ctest runs every test in a process of its own).
PgServer& shared_pg_server();

}  // namespace triage::testing

// In a TEST body: skip when the PostgreSQL binaries are absent, else start (or reuse) the
// process's server.
#define TRIAGE_PG_SERVER_OR_SKIP()                                                           \
  do {                                                                                       \
    if (::triage::testing::PgServer::bin_dir().empty()) {                                    \
      GTEST_SKIP() << "PostgreSQL server binaries not found (install the Debian package "    \
                      "postgresql: scripts/setup.sh); set TRIAGE_PG_BIN to their directory"; \
    }                                                                                        \
  } while (0)
