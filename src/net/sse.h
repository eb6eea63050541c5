#pragma once
// Incremental Server-Sent Events parser (the WHATWG "event stream" format): feed it byte
// slices exactly as they arrive (split anywhere, even inside a CRLF), then pull complete events.
// Handles LF, CRLF and CR line ends, comments (":..."), "field" without a colon, one optional
// space after the colon, multi-line data (joined with "\n"), and events without data (dropped,
// as the spec says). Not thread-safe; one parser per stream.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace triage::net {

struct SseEvent {
  std::string_view event;  // the `event:` name; empty when the event had none ("message")
  std::string_view data;   // `data:` lines joined with '\n'
  std::string_view id;     // the `id:` field of this event, empty if none
};

class SseParser {
 public:
  // Appends bytes. Invalidates views returned by earlier next() calls.
  void feed(std::string_view bytes);
  // The next complete event, or nullopt when more bytes are needed. Views stay valid until the
  // next feed() or next() call.
  std::optional<SseEvent> next();
  // Bytes received but not yet part of a complete event (an event cut by the end of stream).
  bool has_partial() const;
  // True when the unconsumed bytes hold at least one more complete event (a blank line), i.e.
  // next() would likely return again without another feed().
  bool has_complete_event() const;
  // Forgets everything (for reuse on a new stream).
  void reset();

 private:
  void reset_event();

  std::string buf_;  // unconsumed input starts at pos_
  std::size_t pos_ = 0;
  bool skip_lf_ = false;  // the last line ended with CR at the end of a feed; drop a leading LF
  // Event being assembled. A single data line is a view into buf_ (no copy); further lines are
  // joined in data_.
  std::string event_;
  std::string id_;
  std::string data_;
  std::string_view data_view_;
  int data_lines_ = 0;
  bool any_field_ = false;
};

}  // namespace triage::net
