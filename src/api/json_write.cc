#include "api/json_write.h"

#include <boost/json/serializer.hpp>

namespace triage::api::detail {

void append_value(std::string& out, const boost::json::value& v) {
  boost::json::serializer sr;
  sr.reset(&v);
  char buf[1024];
  while (!sr.done()) out += sr.read(buf, sizeof buf);
}

}  // namespace triage::api::detail
