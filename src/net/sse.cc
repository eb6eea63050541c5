#include "net/sse.h"

namespace triage::net {

void SseParser::feed(std::string_view bytes) {
  if (bytes.empty()) return;
  // A single pending data line views buf_; keep it alive across compaction by copying it.
  if (data_lines_ == 1 && data_.empty()) data_.assign(data_view_);
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  if (data_lines_ >= 1) data_view_ = data_;
  buf_.append(bytes);
}

void SseParser::reset_event() {
  event_.clear();
  id_.clear();
  data_.clear();
  data_view_ = {};
  data_lines_ = 0;
  any_field_ = false;
}

void SseParser::reset() {
  buf_.clear();
  pos_ = 0;
  skip_lf_ = false;
  reset_event();
}

bool SseParser::has_partial() const { return any_field_ || pos_ < buf_.size(); }

std::optional<SseEvent> SseParser::next() {
  // The previous event's fields were handed out as views; clear them now.
  if (data_lines_ < 0) reset_event();
  while (pos_ < buf_.size()) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (buf_[pos_] == '\n') {
        ++pos_;
        continue;
      }
    }
    std::size_t end = buf_.find_first_of("\r\n", pos_);
    if (end == std::string::npos) return std::nullopt;  // incomplete line
    std::string_view line(buf_.data() + pos_, end - pos_);
    if (buf_[end] == '\r') {
      if (end + 1 < buf_.size()) {
        pos_ = end + (buf_[end + 1] == '\n' ? 2 : 1);
      } else {
        pos_ = end + 1;
        skip_lf_ = true;
      }
    } else {
      pos_ = end + 1;
    }

    if (line.empty()) {  // dispatch
      if (data_lines_ == 0) {
        reset_event();
        continue;
      }
      SseEvent ev{event_, data_view_, id_};
      data_lines_ = -1;  // cleared on the next call, after the caller used the views
      any_field_ = false;
      return ev;
    }
    if (line.front() == ':') continue;  // comment
    std::string_view field = line;
    std::string_view value;
    if (std::size_t colon = line.find(':'); colon != std::string_view::npos) {
      field = line.substr(0, colon);
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    any_field_ = true;
    if (field == "data") {
      if (data_lines_ == 0) {
        data_view_ = value;
      } else {
        if (data_lines_ == 1 && data_.empty()) data_.assign(data_view_);
        data_.push_back('\n');
        data_.append(value);
        data_view_ = data_;
      }
      ++data_lines_;
    } else if (field == "event") {
      event_.assign(value);
    } else if (field == "id") {
      if (value.find('\0') == std::string_view::npos) id_.assign(value);
    }
    // "retry" and unknown fields are ignored.
  }
  return std::nullopt;
}

bool SseParser::has_complete_event() const {
  const std::string_view rest = std::string_view(buf_).substr(pos_);
  return rest.find("\n\n") != std::string_view::npos ||
         rest.find("\r\n\r\n") != std::string_view::npos ||
         rest.find("\r\r") != std::string_view::npos;
}

}  // namespace triage::net
