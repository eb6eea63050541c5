#include "net/http_client.h"

#include "net/busy_poll.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <charconv>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <variant>
#include <vector>

namespace triage::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kChunkBytes = 16 * 1024;
constexpr std::uint32_t kHeaderLimit = 64 * 1024;

// One process-wide TLS context: system trust store, peer verification on.
asio::ssl::context& tls_context() {
  static asio::ssl::context ctx = [] {
    asio::ssl::context c(asio::ssl::context::tls_client);
    c.set_default_verify_paths();
    c.set_verify_mode(asio::ssl::verify_peer);
    c.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                  asio::ssl::context::no_tlsv1_1);
    return c;
  }();
  return ctx;
}

using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using Parser = http::response_parser<http::buffer_body>;

}  // namespace

// A connection with the buffers it reuses from request to request. Owned by exactly one
// request (through HttpStream) or by the pool.
struct UpstreamConnection {
  explicit UpstreamConnection(const asio::any_io_executor& ex)
      : stream(std::in_place_index<0>, ex) {
    buffer.reserve(kReadBufferBytes);
  }
  UpstreamConnection(const asio::any_io_executor& ex, asio::ssl::context& ctx)
      : stream(std::in_place_index<1>, ex, ctx) {
    buffer.reserve(kReadBufferBytes);
  }
  // Beast reads at most the buffer's free capacity (and at least 512 bytes): without a
  // reserve every upstream read is 512 bytes, so a stream's head and first chunks need several
  // reads and as many forwarded writes before the first token reaches the client.
  static constexpr std::size_t kReadBufferBytes = 16 * 1024;

  beast::tcp_stream& tcp() {
    return stream.index() == 0 ? std::get<0>(stream) : beast::get_lowest_layer(std::get<1>(stream));
  }

  std::variant<beast::tcp_stream, TlsStream> stream;
  beast::flat_buffer buffer;      // read buffer; empty between messages (no pipelining)
  std::string head;               // serialized request head
  std::unique_ptr<char[]> chunk;  // body scratch for HttpStream::next()
  std::optional<Parser> parser;   // the response being read
  SteadyTime idle_until{};        // pooled: closed instead of reused from then on
};

namespace {

// While alive, cancelling `cancellation` (if any) aborts the connection's pending operation.
Cancellation::Hook abort_on_cancel(Cancellation* cancellation, UpstreamConnection& c) {
  if (cancellation == nullptr) return {};
  return cancellation->on_cancel([&c] { c.tcp().cancel(); });
}

Error cancelled_error(const Endpoint& ep) {
  return make_error(ErrorCode::kCancelled, "the client went away",
                    "call to upstream " + ep.origin + " abandoned");
}

// Runs the same Beast/Asio operation on whichever stream type the connection has. Both
// branches yield the same awaitable type.
template <typename Op>
auto on_stream(UpstreamConnection& c, Op&& op) {
  return c.stream.index() == 0 ? op(std::get<0>(c.stream)) : op(std::get<1>(c.stream));
}

// Bumped whenever a pool dies, so that per-thread caches of pool pointers never outlive their
// pool (a new io_context may reuse a dead one's address).
std::atomic<uint64_t> g_pool_epoch{0};

// The connection pool of one io_context (an Asio service, so it dies with its context).
class PoolService : public asio::execution_context::service {
 public:
  using key_type = PoolService;
  static asio::execution_context::id id;

  explicit PoolService(asio::execution_context& ctx) : service(ctx) {}

  std::unique_ptr<UpstreamConnection> acquire(const std::string& origin, SteadyTime now) {
    std::lock_guard lock(mu_);
    auto it = idle_.find(origin);
    if (it == idle_.end()) return nullptr;
    auto& list = it->second;
    // Drop those idle too long, then take the most recently used.
    drop_expired(list, now);
    if (list.empty()) return nullptr;
    std::unique_ptr<UpstreamConnection> c = std::move(list.back());
    list.pop_back();
    --idle_count_;
    ++stats_.reuses;
    return c;
  }

  void release(const std::string& origin, std::unique_ptr<UpstreamConnection> c,
               const HttpClientOptions& options, SteadyTime now) {
    std::lock_guard lock(mu_);
    auto& list = idle_[origin];
    if (list.size() >= options.max_idle_per_origin) return;  // `c` closes here
    c->idle_until = now + options.idle_timeout;
    c->parser.reset();
    list.push_back(std::move(c));
    ++idle_count_;
  }

  std::size_t close_expired(SteadyTime now) {
    std::lock_guard lock(mu_);
    const std::size_t before = idle_count_;
    for (auto& [origin, list] : idle_) drop_expired(list, now);
    return before - idle_count_;
  }

  void count_connect() {
    std::lock_guard lock(mu_);
    ++stats_.connects;
  }
  void count_stale_retry() {
    std::lock_guard lock(mu_);
    ++stats_.stale_retries;
  }
  PoolStats stats() {
    std::lock_guard lock(mu_);
    PoolStats s = stats_;
    s.idle = idle_count_;
    return s;
  }

 private:
  // Closes the connections of `list` whose idle deadline has passed. Released in order, so
  // the oldest are at the front (one client's idle_timeout per origin in practice; a shorter
  // one behind a longer waits for the next sweep or acquire). Holds mu_.
  void drop_expired(std::vector<std::unique_ptr<UpstreamConnection>>& list, SteadyTime now) {
    std::size_t expired = 0;
    while (expired < list.size() && list[expired]->idle_until <= now) ++expired;
    if (expired == 0) return;
    list.erase(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(expired));
    idle_count_ -= expired;
  }

  void shutdown() override {
    g_pool_epoch.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mu_);
    idle_.clear();
    idle_count_ = 0;
  }

  // Guards everything below; uncontended with one thread per io_context, needed when a context
  // is run by several threads.
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
  std::size_t idle_count_ = 0;
  PoolStats stats_;
};

asio::execution_context::id PoolService::id;

PoolService& pool_of(const asio::any_io_executor& ex) {
  // use_service() locks and searches; remember the last context seen on this thread.
  thread_local asio::execution_context* last_ctx = nullptr;
  thread_local PoolService* last_pool = nullptr;
  thread_local uint64_t last_epoch = 0;
  asio::execution_context& ctx = asio::query(ex, asio::execution::context);
  uint64_t epoch = g_pool_epoch.load(std::memory_order_relaxed);
  if (&ctx != last_ctx || epoch != last_epoch) {
    last_pool = &asio::use_service<PoolService>(ctx);
    last_ctx = &ctx;
    last_epoch = epoch;
  }
  return *last_pool;
}

int64_t budget_ms(SteadyTime start, SteadyTime deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - start).count();
}

Error timeout_error(const Endpoint& ep, SteadyTime start, SteadyTime deadline) {
  // Public messages never name the upstream's address (clients must not learn the inside);
  // `internal` (logs, store) does.
  const std::string budget = std::to_string(budget_ms(start, deadline));
  return make_error(ErrorCode::kUpstreamTimeout,
                    "upstream did not answer within " + budget + " ms",
                    "upstream " + ep.origin + " did not answer within " + budget + " ms");
}

// Maps a transport error during `stage` ("connect", "send", "read") to an Error.
Error transport_error(const Endpoint& ep, std::string_view stage, const error_code& ec,
                      SteadyTime start, SteadyTime deadline, std::size_t body_limit) {
  if (ec == beast::error::timeout) return timeout_error(ep, start, deadline);
  std::string internal = ep.origin + " " + std::string(stage) + ": " + ec.category().name() + ":" +
                         std::to_string(ec.value()) + " " + ec.message();
  if (ec == http::error::body_limit) {
    return make_error(ErrorCode::kUpstreamError,
                      "upstream sent a response larger than " +
                          std::to_string(body_limit) + " bytes",
                      std::move(internal));
  }
  std::string what;
  if (ec == asio::error::connection_refused) {
    what = "refused the connection";
  } else if (ec == asio::error::host_not_found || ec == asio::error::host_not_found_try_again) {
    what = "could not be resolved";
  } else if (ec == http::error::end_of_stream || ec == asio::error::eof ||
             ec == asio::error::connection_reset || ec == http::error::partial_message ||
             ec == asio::ssl::error::stream_truncated) {
    what = "closed the connection unexpectedly";
  } else if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
    what = "sent an invalid HTTP response";
  } else {
    what = "failed during " + std::string(stage) + " (" + ec.message() + ")";
  }
  return make_error(ErrorCode::kUpstreamError, "upstream " + what, std::move(internal));
}

void append_number(std::string& out, std::size_t n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

void serialize_head(std::string& out, const Endpoint& ep, const HttpRequest& req) {
  out.clear();
  out.append(req.method).append(" ").append(req.target).append(" HTTP/1.1\r\nHost: ");
  out.append(ep.host_header).append("\r\nUser-Agent: triage/0.1\r\n");
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT") {
    out.append("Content-Type: ").append(req.content_type).append("\r\nContent-Length: ");
    append_number(out, req.body.size());
    out.append("\r\n");
  }
  for (const HttpHeader& h : req.headers) {
    out.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  out.append("\r\n");
}

struct Resolved {
  error_code ec;
  tcp::resolver::results_type results;
  bool timed_out = false;
};

// Resolves ep.host; IP literals skip the resolver. The resolver ignores the stream's expiry, so
// a timer cancels it at the deadline.
asio::awaitable<Resolved> resolve(const Endpoint& ep, SteadyTime deadline) {
  Resolved out;
  asio::ip::address literal = asio::ip::make_address(ep.host, out.ec);
  if (!out.ec) {
    out.results = tcp::resolver::results_type::create(tcp::endpoint(literal, ep.port), ep.host,
                                                      std::to_string(ep.port));
    co_return out;
  }
  auto ex = co_await asio::this_coro::executor;
  auto resolver = std::make_shared<tcp::resolver>(ex);
  asio::steady_timer timer(ex, deadline);
  auto timed_out = std::make_shared<bool>(false);
  timer.async_wait([resolver, timed_out](const error_code& tec) {
    if (!tec) {
      *timed_out = true;
      resolver->cancel();
    }
  });
  auto [rec, results] = co_await resolver->async_resolve(ep.host, std::to_string(ep.port), kTuple);
  timer.cancel();
  out.ec = rec;
  out.results = std::move(results);
  out.timed_out = *timed_out;
  co_return out;
}

// Opens a new connection (resolve, TCP connect, TLS handshake) within the deadline.
// (Written without co_await inside conditional blocks that co_return: GCC 12 miscompiles those.)
asio::awaitable<Result<std::unique_ptr<UpstreamConnection>>> connect(const Endpoint& ep,
                                                                     SteadyTime start,
                                                                     SteadyTime deadline) {
  auto ex = co_await asio::this_coro::executor;
  std::unique_ptr<UpstreamConnection> c =
      ep.tls ? std::make_unique<UpstreamConnection>(ex, tls_context())
             : std::make_unique<UpstreamConnection>(ex);
  beast::tcp_stream& tcp = c->tcp();
  tcp.expires_at(deadline);

  Resolved resolved = co_await resolve(ep, deadline);
  if (resolved.timed_out) co_return timeout_error(ep, start, deadline);
  if (resolved.ec) co_return transport_error(ep, "resolve", resolved.ec, start, deadline, 0);
  auto [ec, connected] = co_await tcp.async_connect(resolved.results, kTuple);
  if (ec) co_return transport_error(ep, "connect", ec, start, deadline, 0);
  error_code opt_ec;
  tcp.socket().set_option(tcp::no_delay(true), opt_ec);
  if (!ep.tls) co_return std::move(c);

  TlsStream& tls = std::get<1>(c->stream);
  error_code not_ip;
  asio::ip::make_address(ep.host, not_ip);
  // No SNI for IP literals (RFC 6066); the certificate must then name the IP.
  if (not_ip && !SSL_set_tlsext_host_name(tls.native_handle(), ep.host.c_str())) {
    co_return make_error(ErrorCode::kUpstreamError,
                         "upstream TLS set-up failed",
                         "upstream " + ep.origin + ": could not set TLS server name");
  }
  tls.set_verify_mode(asio::ssl::verify_peer);
  // OpenSSL checks the peer name itself (subjectAltName DNS names or IP addresses, no partial
  // wildcards), so that a mismatch has its own verify result for the error message.
  SSL* ssl = tls.native_handle();
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  int named = not_ip ? SSL_set1_host(ssl, ep.host.c_str())
                     : X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ep.host.c_str());
  if (named != 1) {
    co_return make_error(ErrorCode::kUpstreamError,
                         "upstream TLS set-up failed",
                         "upstream " + ep.origin + ": could not set the TLS peer name to verify");
  }
  auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::client, kTuple);
  if (hec == beast::error::timeout) co_return timeout_error(ep, start, deadline);
  if (hec) {
    // A rejected certificate says why (unknown issuer, name mismatch, expired...).
    long verify = SSL_get_verify_result(tls.native_handle());
    std::string why = verify != X509_V_OK ? std::string("certificate verify failed: ") +
                                                X509_verify_cert_error_string(verify)
                                          : hec.message();
    co_return make_error(ErrorCode::kUpstreamError,
                         "TLS handshake with the upstream failed (" + why + ")",
                         "TLS handshake with upstream " + ep.origin + " failed: " + hec.message());
  }
  co_return std::move(c);
}

}  // namespace

HttpClient::HttpClient(Endpoint endpoint, HttpClientOptions options)
    : endpoint_(std::move(endpoint)), options_(options) {}

HttpClient::~HttpClient() = default;

asio::awaitable<Result<HttpStream>> HttpClient::open(const HttpRequest& req,
                                                     SteadyTime deadline) const {
  auto ex = co_await asio::this_coro::executor;
  PoolService& pool = pool_of(ex);
  const SteadyTime start = SteadyClock::now();
  if (deadline <= start) co_return timeout_error(endpoint_, start, deadline);
  Cancellation* const cancel = req.cancellation;
  if (cancel != nullptr && cancel->cancelled()) co_return cancelled_error(endpoint_);

  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<UpstreamConnection> c;
    if (attempt == 0) c = pool.acquire(endpoint_.origin, start);
    const bool reused = c != nullptr;
    Result<std::unique_ptr<UpstreamConnection>> connected(std::move(c));
    if (!reused) connected = co_await connect(endpoint_, start, deadline);
    if (!connected) co_return std::move(connected).error();
    c = std::move(connected.value());
    if (!reused) pool.count_connect();
    c->tcp().expires_at(deadline);
    serialize_head(c->head, endpoint_, req);
    std::array<asio::const_buffer, 2> bufs{asio::buffer(c->head), asio::buffer(req.body)};
    Cancellation::Hook hook = abort_on_cancel(cancel, *c);
    auto [wec, written] =
        co_await on_stream(*c, [&](auto& s) { return asio::async_write(s, bufs, kTuple); });
    if (wec && cancel != nullptr && cancel->cancelled()) co_return cancelled_error(endpoint_);
    if (wec) {
      if (reused && wec != beast::error::timeout) {
        pool.count_stale_retry();
        continue;
      }
      co_return transport_error(endpoint_, "send", wec, start, deadline, 0);
    }

    c->buffer.clear();
    Parser& p = c->parser.emplace();
    p.header_limit(kHeaderLimit);
    p.body_limit(options_.max_body_bytes);
    if (req.method == "HEAD") p.skip(true);
    UpstreamWait wait;  // lets this thread poll instead of sleeping when replies come fast
    auto [rec, n] = co_await on_stream(
        *c, [&](auto& s) { return http::async_read_header(s, c->buffer, p, kTuple); });
    if (!rec) wait.done();
    hook.reset();
    if (rec && cancel != nullptr && cancel->cancelled()) co_return cancelled_error(endpoint_);
    if (rec) {
      if (reused && !p.got_some() && rec != beast::error::timeout) {
        pool.count_stale_retry();
        continue;
      }
      co_return transport_error(endpoint_, "read", rec, start, deadline, options_.max_body_bytes);
    }
    HttpStream stream(this, std::move(c), start, deadline, cancel);
    co_return std::move(stream);
  }
  // Unreachable: the second attempt never retries.
  co_return make_error(ErrorCode::kInternal, "http client retry loop exhausted");
}

asio::awaitable<Result<HttpResponse>> HttpClient::request(const HttpRequest& req,
                                                          SteadyTime deadline) const {
  auto opened = co_await open(req, deadline);
  if (!opened) co_return std::move(opened).error();
  HttpStream& s = opened.value();
  HttpResponse resp;
  resp.status = s.status();
  resp.content_type = s.content_type();
  auto body = co_await s.read_rest(options_.max_body_bytes);
  if (!body) co_return std::move(body).error();
  resp.body = std::move(body.value());
  co_return resp;
}

HttpStream::HttpStream(const HttpClient* client, std::unique_ptr<UpstreamConnection> conn,
                       SteadyTime start, SteadyTime deadline, Cancellation* cancellation)
    : client_(client),
      conn_(std::move(conn)),
      start_(start),
      deadline_(deadline),
      cancellation_(cancellation) {
  const auto& msg = conn_->parser->get();
  status_ = static_cast<int>(msg.result_int());
  auto ct = msg.find(http::field::content_type);
  if (ct != msg.end()) content_type_.assign(ct->value().data(), ct->value().size());
  if (status_ < 200 || status_ >= 300) {  // only failures carry a Retry-After worth reading
    auto ra = msg.find(http::field::retry_after);
    if (ra != msg.end()) retry_after_.assign(ra->value().data(), ra->value().size());
    auto ra_ms = msg.find("retry-after-ms");
    if (ra_ms != msg.end()) retry_after_ms_.assign(ra_ms->value().data(), ra_ms->value().size());
  }
  if (conn_->parser->is_done()) finish();
}

HttpStream::HttpStream(HttpStream&&) noexcept = default;
HttpStream& HttpStream::operator=(HttpStream&&) noexcept = default;
HttpStream::~HttpStream() = default;  // an unfinished connection closes with conn_

void HttpStream::finish() {
  done_ = true;
  pending_finish_ = false;
  if (!conn_) return;
  bool reusable = conn_->parser->keep_alive() && conn_->buffer.size() == 0;
  if (reusable) {
    conn_->tcp().expires_never();
    pool_of(conn_->tcp().get_executor())
        .release(client_->endpoint_.origin, std::move(conn_), client_->options_,
                 SteadyClock::now());
  }
  conn_.reset();
}

void HttpStream::release() {
  if (pending_finish_) finish();
  if (done_) return;
  Parser& p = *conn_->parser;
  char scratch[64];
  bool clean = true;
  while (clean && !p.is_done()) {
    auto& body = p.get().body();
    body.data = scratch;
    body.size = sizeof scratch;
    error_code ec;
    std::size_t used = p.put(conn_->buffer.data(), ec);
    conn_->buffer.consume(used);
    if (ec == http::error::need_buffer) ec = {};
    clean = !ec && used > 0 && body.size == sizeof scratch;
  }
  if (clean) {
    finish();
  } else {
    conn_.reset();
    done_ = true;
  }
}

namespace {

// Parses into the body buffer whatever the last read left in `buffer`. async_read_some stops at
// the end of each chunk of a chunked body, while an upstream burst (a stream's head and first
// events, or events produced faster than they are read) arrives in one socket read: draining
// turns that read into one view, so the client gets one write instead of one per event. Stops
// at a full body buffer, at the end of the message, when more bytes are needed, or on a parse
// error (left for the next read to report).
void drain_buffered(Parser& p, beast::flat_buffer& buffer) {
  while (!p.is_done() && buffer.size() > 0 && p.get().body().size > 0) {
    error_code ec;
    const std::size_t used = p.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec || used == 0) break;
  }
}

}  // namespace

asio::awaitable<Result<std::string_view>> HttpStream::next() {
  if (pending_finish_) finish();
  if (done_) co_return std::string_view{};
  UpstreamConnection& c = *conn_;
  if (!c.chunk) c.chunk = std::make_unique<char[]>(kChunkBytes);
  Parser& p = *c.parser;
  for (;;) {
    auto& body = p.get().body();
    body.data = c.chunk.get();
    body.size = kChunkBytes;
    Cancellation::Hook hook = abort_on_cancel(cancellation_, c);
    auto [ec, n] = co_await on_stream(
        c, [&](auto& s) { return http::async_read_some(s, c.buffer, p, kTuple); });
    hook.reset();
    if (ec && ec != http::error::need_buffer) {
      co_return read_failed(ec, client_->options_.max_body_bytes);
    }
    drain_buffered(p, c.buffer);
    std::size_t got = kChunkBytes - p.get().body().size;
    if (p.is_done()) {
      // The view points into the connection's scratch, which finish() may pool; keep the
      // bytes alive by holding the connection until the caller asks again.
      if (got == 0) {
        finish();
        co_return std::string_view{};
      }
      pending_finish_ = true;
    }
    if (got > 0) co_return std::string_view(c.chunk.get(), got);
  }
}

asio::awaitable<Result<std::string>> HttpStream::read_rest(std::size_t limit) {
  std::string out;
  if (pending_finish_) finish();
  if (done_) co_return out;
  Parser& p = *conn_->parser;
  const bool sized = p.content_length().has_value();
  if (auto len = p.content_length()) {
    if (*len > limit) {
      conn_.reset();
      done_ = true;
      co_return transport_error(client_->endpoint_, "read",
                                http::make_error_code(http::error::body_limit), start_, deadline_,
                                limit);
    }
    out.resize(static_cast<std::size_t>(*len));
  }
  std::size_t used = 0;
  while (!p.is_done()) {
    if (!sized && out.size() - used < 4096) {
      std::size_t cap = limit == SIZE_MAX ? limit : limit + 1;  // one over: detects overflow
      out.resize(std::min(cap, std::max(out.size() * 2, used + kChunkBytes)));
    }
    auto& body = p.get().body();
    body.data = out.data() + used;
    body.size = out.size() - used;
    Cancellation::Hook hook = abort_on_cancel(cancellation_, *conn_);
    auto [ec, n] = co_await on_stream(
        *conn_, [&](auto& s) { return http::async_read_some(s, conn_->buffer, p, kTuple); });
    hook.reset();
    used = out.size() - p.get().body().size;
    if (ec && ec != http::error::need_buffer) co_return read_failed(ec, limit);
    if (used > limit) {
      conn_.reset();
      done_ = true;
      co_return transport_error(client_->endpoint_, "read",
                                http::make_error_code(http::error::body_limit), start_, deadline_,
                                limit);
    }
  }
  out.resize(used);
  finish();
  co_return out;
}

Error HttpStream::read_failed(const error_code& ec, std::size_t limit) {
  conn_.reset();
  done_ = true;
  if (cancellation_ != nullptr && cancellation_->cancelled()) {
    return cancelled_error(client_->endpoint_);
  }
  return transport_error(client_->endpoint_, "read", ec, start_, deadline_, limit);
}

std::size_t close_idle_connections(asio::execution_context& ctx, SteadyTime now) {
  if (!asio::has_service<PoolService>(ctx)) return 0;
  return asio::use_service<PoolService>(ctx).close_expired(now);
}

PoolStats pool_stats(asio::execution_context& ctx) {
  return asio::use_service<PoolService>(ctx).stats();
}

}  // namespace triage::net
