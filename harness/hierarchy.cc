#include "harness/hierarchy.h"

#include <algorithm>
#include <cmath>

#include "harness/stats.h"

namespace wan::stats {

double simes(std::vector<double> p) {
  p.erase(std::remove_if(p.begin(), p.end(), [](double x) { return !std::isfinite(x); }), p.end());
  if (p.empty()) return 1.0;
  std::sort(p.begin(), p.end());
  double best = 1.0;
  for (size_t k = 0; k < p.size(); ++k) best = std::min(best, p[k] * static_cast<double>(p.size()) / static_cast<double>(k + 1));
  return std::min(1.0, best);
}

HierarchicalResult hierarchical_fdr(const HierarchicalInput& in, double alpha) {
  HierarchicalResult r;
  const size_t n = in.range_p.size();
  r.range_p_adjusted.assign(n, 1.0);
  r.range_called.assign(n, false);
  // Node p-values: Simes over the name's aggregate and its ranges.
  std::map<std::string, std::vector<size_t>> ranges_of;
  for (size_t i = 0; i < n; ++i) ranges_of[in.range_name[i]].push_back(i);
  std::vector<std::string> names;
  for (const auto& [name, p] : in.name_p) names.push_back(name);
  for (const auto& [name, idx] : ranges_of)
    if (!in.name_p.count(name)) names.push_back(name);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::vector<double> node;
  for (const std::string& name : names) {
    std::vector<double> ps;
    const auto agg = in.name_p.find(name);
    if (agg != in.name_p.end()) ps.push_back(agg->second);
    for (size_t i : ranges_of[name]) ps.push_back(in.range_p[i]);
    r.node_p[name] = simes(ps);
    node.push_back(r.node_p[name]);
    r.name_called[name] = false;
  }
  r.root_p = simes(node);
  if (!(r.root_p < alpha)) return r;
  // Level 1: BH over the names; level 2: BH over each called name's ranges.
  const std::vector<double> name_adj = benjamini_hochberg(node);
  for (size_t k = 0; k < names.size(); ++k) {
    if (!(name_adj[k] < alpha)) continue;
    r.name_called[names[k]] = true;
    std::vector<double> ps;
    for (size_t i : ranges_of[names[k]]) ps.push_back(in.range_p[i]);
    const std::vector<double> adj = benjamini_hochberg(ps);
    for (size_t j = 0; j < ranges_of[names[k]].size(); ++j) {
      const size_t i = ranges_of[names[k]][j];
      r.range_p_adjusted[i] = adj[j];
      r.range_called[i] = adj[j] < alpha;
    }
  }
  return r;
}

}  // namespace wan::stats
