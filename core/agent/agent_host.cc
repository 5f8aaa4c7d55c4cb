// The host as a fleet scheduler asks about it before placing work:
//   GET  /v1/host           VMs by state, vCPUs and memory committed against
//                           the host's, capability pools, draining or not
//   POST /v1/host/drain     no more creates or starts; running VMs stopped
//                           gracefully (in parallel); a report of each
//   POST /v1/host/undrain   creates and starts again
// Draining is kept in <state_dir>/draining, so it outlives an agent restart.
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/agent/agent.h"
#include "core/base/clock.h"

namespace banger::core {

using nlohmann::json;

namespace {
constexpr size_t kDrainParallel = 8;  // VMs stopped at once
}  // namespace

std::string Agent::DrainMarker() const {
  return config_.state_dir + "/draining";
}

HttpResponse Agent::HostReport() const {
  VmListing vms = store_->List();
  std::map<std::string, int> by_state;
  for (VmState s : kReportedVmStates) by_state[std::string(VmStateName(s))] = 0;
  uint64_t vcpus = 0, memory_mib = 0;
  for (const auto& r : vms.records) {
    ++by_state[std::string(VmStateName(r->state))];
    if (r->state == VmState::kRunning || r->state == VmState::kStarting) {
      vcpus += r->spec.vcpus;
      memory_mib += r->spec.memory_mib;
    }
  }
  json states(by_state);
  states["corrupt"] = vms.corrupt.size();
  struct sysinfo si {};
  uint64_t host_mib = ::sysinfo(&si) == 0 ? (uint64_t{si.totalram} * si.mem_unit) >> 20 : 0;
  json pools = json::object();
  for (const Plugin* p : dispatcher_->Running()) {
    if (!verbs_.FindCommand(p->name, "pool")) continue;
    auto reply = dispatcher_->Command(p->name, "pool", "{}");
    if (reply) pools[p->name] = json::parse(*reply, nullptr, false);
  }
  char hostname[256] = {0};
  ::gethostname(hostname, sizeof hostname - 1);
  json j{{"hostname", hostname},
         {"draining", lifecycle_->draining()},
         {"vms", states},
         {"vcpus", {{"host", ::sysconf(_SC_NPROCESSORS_ONLN)}, {"committed", vcpus}}},
         {"memory_mib", {{"host", host_mib}, {"committed", memory_mib}}},
         {"pools", pools}};
  return JsonResponse(200, j.dump(2) + "\n");
}

HttpResponse Agent::Drain() {
  auto began = std::chrono::steady_clock::now();
  {
    // Kept before anything stops: an agent restarted mid-drain still drains.
    std::ofstream marker(DrainMarker(), std::ios::trunc);
    marker << UnixMillis() << "\n";
    if (!marker.flush()) {
      return ErrorResponse(500, "drain: cannot write " + DrainMarker() + "; nothing was changed");
    }
  }
  if (!lifecycle_->draining()) logger_.Info("core", "draining: creates and starts are refused");
  lifecycle_->SetDraining(true);
  std::mutex mu;
  json stopped = json::array(), failed = json::array();
  std::set<std::string> tried;
  // Rounds until one finds nothing new running: a start that was already
  // under way when the drain began finishes, and is then stopped too.
  for (int round = 0; round < 5; ++round) {
    std::vector<std::pair<std::string, std::string>> running;  // id, name
    for (const auto& r : store_->List().records) {
      if ((r->state == VmState::kRunning || r->state == VmState::kStarting) &&
          tried.insert(r->id).second) {
        running.emplace_back(r->id, r->name);
      }
    }
    if (running.empty()) break;
    std::atomic<size_t> next{0};
    std::vector<std::thread> workers;
    for (size_t w = 0; w < std::min(kDrainParallel, running.size()); ++w) {
      workers.emplace_back([&] {
        for (size_t i = next++; i < running.size(); i = next++) {
          auto r = lifecycle_->StopFor(running[i].first, "drain");
          std::lock_guard lock(mu);
          if (r) {
            stopped.push_back(running[i].second);
          } else {
            failed.push_back({{"vm", running[i].second}, {"error", r.status().message()}});
          }
        }
      });
    }
    for (auto& w : workers) w.join();
  }
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count();
  logger_.Log(LogLevel::kInfo, "core",
              "drain: " + std::to_string(stopped.size()) + " VMs stopped, " +
                  std::to_string(failed.size()) + " failed",
              {LogField::Number("ms", ms)});
  json j{{"draining", true}, {"stopped", stopped}, {"failed", failed}, {"ms", ms}};
  return JsonResponse(200, j.dump(2) + "\n");
}

HttpResponse Agent::Undrain() {
  if (::unlink(DrainMarker().c_str()) != 0 && errno != ENOENT) {
    return ErrorResponse(500, "undrain: cannot remove " + DrainMarker());
  }
  if (lifecycle_->draining()) logger_.Info("core", "undrained: creates and starts are taken again");
  lifecycle_->SetDraining(false);
  return JsonResponse(200, json{{"draining", false}}.dump(2) + "\n");
}

void Agent::AddHostRoutes() {
  routes_.Add("GET", "/v1/host", [this](const HttpRequest&) { return HostReport(); });
  routes_.Add("POST", "/v1/host/drain", [this](const HttpRequest&) { return Drain(); });
  routes_.Add("POST", "/v1/host/undrain", [this](const HttpRequest&) { return Undrain(); });
}

void Agent::RestoreDraining() {
  if (::access(DrainMarker().c_str(), F_OK) == 0) {
    lifecycle_->SetDraining(true);
    logger_.Warn("core", "draining (" + DrainMarker() +
                             " exists): creates and starts are refused until bangerctl undrain");
  }
}

}  // namespace banger::core
