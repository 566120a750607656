#include "userspace/sampling/sampling_rules.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "userspace/common/duration.h"

namespace ztrace::sampling {
namespace {

using nlohmann::json;

// Keys the two requests accept besides the selector's.
bool is_selector_key(std::string_view key) {
  return key == "service" || key == "pid" || key == "container_id" || key == "k8s.namespace.name" ||
         key == "k8s.pod.name";
}

std::optional<std::string> nonempty_string(const json& value, std::string_view key,
                                           std::string* error) {
  if (!value.is_string() || value.get_ref<const std::string&>().empty()) {
    *error = std::string(key) + ": a non-empty string";
    return std::nullopt;
  }
  return value.get<std::string>();
}

// The selector keys of `body`; false and `error` on a bad value or an incomplete pod.
bool read_selector(const json& body, RuleSelector* selector, std::string* error) {
  for (const auto& [key, value] : body.items()) {
    if (!is_selector_key(key)) continue;
    if (key == "pid") {
      if (!value.is_number_unsigned() || value.get<uint64_t>() == 0 ||
          value.get<uint64_t>() > UINT32_MAX) {
        *error = "pid: a positive integer";
        return false;
      }
      selector->pid = value.get<uint32_t>();
      continue;
    }
    auto text = nonempty_string(value, key, error);
    if (!text) return false;
    if (key == "service") selector->service = std::move(text);
    if (key == "container_id") selector->container_id = std::move(text);
    if (key == "k8s.namespace.name") selector->k8s_namespace = std::move(text);
    if (key == "k8s.pod.name") selector->k8s_pod = std::move(text);
  }
  if (selector->k8s_pod.has_value() != selector->k8s_namespace.has_value()) {
    *error = "k8s.pod.name and k8s.namespace.name go together";
    return false;
  }
  return true;
}

// The body as a JSON object whose keys are all in `allowed` or selector keys.
std::optional<json> read_object(std::string_view body,
                                std::initializer_list<std::string_view> allowed,
                                std::string* error) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    *error = "the body is not a JSON object";
    return std::nullopt;
  }
  for (const auto& [key, value] : parsed.items()) {
    if (!is_selector_key(key) && std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      *error = "unknown key '" + key + "'";
      return std::nullopt;
    }
  }
  return parsed;
}

void put_selector(json& out, const RuleSelector& selector) {
  if (selector.service) out["service"] = *selector.service;
  if (selector.pid) out["pid"] = *selector.pid;
  if (selector.container_id) out["container_id"] = *selector.container_id;
  if (selector.k8s_namespace) out["k8s.namespace.name"] = *selector.k8s_namespace;
  if (selector.k8s_pod) out["k8s.pod.name"] = *selector.k8s_pod;
}

}  // namespace

ProcessIdentity identity_of(uint32_t pid, const spans::Resource& resource) {
  ProcessIdentity identity{.pid = pid};
  for (const auto& attribute : resource.attributes) {
    const auto* text = std::get_if<std::string>(&attribute.value);
    if (!text) continue;
    const std::string_view key = attribute.key;
    if (key == "service.name") identity.service = *text;
    if (key == "container.id") identity.container_id = *text;
    if (key == "k8s.namespace.name") identity.k8s_namespace = *text;
    if (key == "k8s.pod.name") identity.k8s_pod = *text;
  }
  return identity;
}

bool RuleSelector::matches(const ProcessIdentity& process) const {
  if (empty()) return false;
  return (!service || *service == process.service) && (!pid || *pid == process.pid) &&
         (!container_id || *container_id == process.container_id) &&
         (!k8s_namespace || *k8s_namespace == process.k8s_namespace) &&
         (!k8s_pod || *k8s_pod == process.k8s_pod);
}

std::optional<EnableRequest> parse_enable_request(std::string_view body, std::string* error) {
  auto object = read_object(body, {"rate", "duration"}, error);
  if (!object) return std::nullopt;
  EnableRequest request;
  if (!read_selector(*object, &request.selector, error)) return std::nullopt;
  if (request.selector.empty()) {
    *error = "no selector: service, pid, container_id, or k8s.namespace.name + k8s.pod.name";
    return std::nullopt;
  }
  if (object->contains("rate")) {
    const json& rate = (*object)["rate"];
    if (!rate.is_number() || !std::isfinite(rate.get<double>()) || rate.get<double>() < 0 ||
        rate.get<double>() > 1) {
      *error = "rate: a number in [0, 1]";
      return std::nullopt;
    }
    request.rate = rate.get<double>();
  }
  if (object->contains("duration")) {
    const json& duration = (*object)["duration"];
    std::optional<uint64_t> ns;
    if (duration.is_string()) ns = parse_duration_ns(duration.get<std::string>());
    if (!ns || *ns == 0 || *ns > kMaxRuleDurationNs) {
      *error = "duration: a duration such as \"90s\" or \"10m\", at most 24h";
      return std::nullopt;
    }
    request.duration_ns = *ns;
  }
  return request;
}

std::optional<DisableRequest> parse_disable_request(std::string_view body, std::string* error) {
  auto object = read_object(body, {"id"}, error);
  if (!object) return std::nullopt;
  DisableRequest request;
  if (object->contains("id")) {
    const json& id = (*object)["id"];
    if (!id.is_number_unsigned()) {
      *error = "id: a rule id (a positive integer)";
      return std::nullopt;
    }
    request.id = id.get<uint64_t>();
  }
  if (!read_selector(*object, &request.selector, error)) return std::nullopt;
  if (!request.id && request.selector.empty()) {
    *error = "give the rule's id, or its selector";
    return std::nullopt;
  }
  return request;
}

std::optional<Rule> RuleBook::add(const EnableRequest& request, uint64_t now_ns,
                                  std::string* error) {
  if (rules_.size() >= kMaxRules) {
    *error = "at most " + std::to_string(kMaxRules) + " rules at once";
    return std::nullopt;
  }
  Rule rule{next_id_++, request.selector, request.rate, now_ns + request.duration_ns};
  rules_.push_back(rule);
  return rule;
}

std::vector<Rule> RuleBook::remove(const DisableRequest& request) {
  std::vector<Rule> removed;
  std::erase_if(rules_, [&](const Rule& rule) {
    const bool match = request.id ? rule.id == *request.id && (request.selector.empty() ||
                                                               rule.selector == request.selector)
                                  : rule.selector == request.selector;
    if (match) removed.push_back(rule);
    return match;
  });
  return removed;
}

std::vector<Rule> RuleBook::expire(uint64_t now_ns) {
  std::vector<Rule> expired;
  std::erase_if(rules_, [&](const Rule& rule) {
    if (rule.expires_at_ns > now_ns) return false;
    expired.push_back(rule);
    return true;
  });
  return expired;
}

std::optional<double> RuleBook::rate_for(const ProcessIdentity& process) const {
  std::optional<double> rate;
  for (const Rule& rule : rules_) {
    if (rule.selector.matches(process)) rate = std::max(rate.value_or(0.0), rule.rate);
  }
  return rate;
}

std::string rule_json(const Rule& rule, uint64_t now_ns) {
  json selector = json::object();
  put_selector(selector, rule.selector);
  const uint64_t left_ns = rule.expires_at_ns > now_ns ? rule.expires_at_ns - now_ns : 0;
  return nlohmann::ordered_json{{"id", rule.id},
                                {"selector", selector},
                                {"rate", rule.rate},
                                {"expires_in_s", (left_ns + 999'999'999) / 1'000'000'000}}
      .dump();
}

}  // namespace ztrace::sampling
