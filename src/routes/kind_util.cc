#include "routes/kind_util.h"

#include "routes/route_table.h"

namespace triage::routes {

std::unique_ptr<RE2> compile_regex(const config::Field& field, const std::string& pattern,
                                   bool case_insensitive) {
  RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_case_sensitive(!case_insensitive);
  auto re = std::make_unique<RE2>(pattern, opts);
  if (!re->ok()) {
    field.fail("invalid regular expression '" + pattern + "': " + re->error() +
               " (RE2 syntax: https://github.com/google/re2/wiki/Syntax)");
  }
  return re;
}

std::vector<std::string> string_or_list(const config::Field& field) {
  if (!field.present()) return {};
  if (field.node().IsScalar()) {
    std::string v = field.as<std::string>();
    return {v};
  }
  return field.as<std::vector<std::string>>();
}

Route& resolve_child(RouteTable& table, const config::Field& field) {
  const std::string name = field.as<std::string>();
  std::string where = field.file().empty() ? std::string("<config>") : field.file();
  if (field.line() > 0) where.append(":").append(std::to_string(field.line()));
  where.append(": ").append(field.path());
  return table.child(name, where);
}

}  // namespace triage::routes
