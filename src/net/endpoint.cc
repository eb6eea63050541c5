#include "net/endpoint.h"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>

namespace triage::net {

std::string Endpoint::target(std::string_view suffix) const {
  std::string out;
  out.reserve(base_path.size() + suffix.size());
  out.append(base_path).append(suffix);
  return out;
}

Result<Endpoint> parse_endpoint(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return make_error(ErrorCode::kInvalidRequest,
                      "invalid endpoint URL '" + std::string(url) + "': " + std::string(why));
  };
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return bad("not an absolute URL");
  const boost::urls::url_view& u = *parsed;

  Endpoint ep;
  std::string scheme = u.scheme();
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme == "https") {
    ep.tls = true;
  } else if (scheme != "http") {
    return bad("scheme must be http or https");
  }
  if (u.has_userinfo()) return bad("user info is not allowed; put keys in api_key_env");
  if (u.has_query() || u.has_fragment()) return bad("query and fragment are not allowed");
  // host_name() decodes %-escapes; for IPv6 literals encoded_host_address() has no brackets.
  switch (u.host_type()) {
    case boost::urls::host_type::name:
      ep.host = u.host_name();
      break;
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::ipv6:
      ep.host = u.host_address();
      break;
    default:
      return bad("missing or unsupported host");
  }
  if (ep.host.empty()) return bad("missing host");

  uint16_t default_port = ep.tls ? 443 : 80;
  ep.port = default_port;
  if (u.has_port()) {
    std::string_view p = u.port();
    unsigned value = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (ec != std::errc() || end != p.data() + p.size() || value == 0 || value > 65535) {
      return bad("port must be 1..65535");
    }
    ep.port = static_cast<uint16_t>(value);
  }

  ep.base_path = std::string(u.encoded_path());
  while (!ep.base_path.empty() && ep.base_path.back() == '/') ep.base_path.pop_back();

  bool v6 = u.host_type() == boost::urls::host_type::ipv6;
  std::string host_for_url = v6 ? "[" + ep.host + "]" : ep.host;
  std::string port_text = std::to_string(ep.port);
  ep.origin = scheme + "://" + host_for_url + ":" + port_text;
  ep.host_header = ep.port == default_port ? host_for_url : host_for_url + ":" + port_text;
  return ep;
}

}  // namespace triage::net
