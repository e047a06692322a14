// Hierarchical false-discovery control for kernel timings (Yekutieli 2008, with Simes node
// p-values): the families are tested top down — end to end (the root), then kernel names,
// then each called name's NVTX ranges — and a level is entered only where the level above
// rejected. A range is called changed only when its kernel name is; a name is called when
// its own aggregate test or any of its ranges carries the evidence (Simes combination), so a
// change confined to ONE range of a kernel launched in 30 blocks is still found.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace wan::stats {

struct HierarchicalInput {
  // One entry per range comparison: its kernel name and its change p-value (1 when it is not
  // in the family: estimate within +-min_effect, or no verdict possible).
  std::vector<std::string> range_name;
  std::vector<double> range_p;
  // Per kernel name: the change p-value of its aggregate (all ranges summed) comparison.
  std::map<std::string, double> name_p;
};

struct HierarchicalResult {
  double root_p = 1.0;                     // Simes over the names' node p-values
  std::map<std::string, double> node_p;    // Simes over {aggregate, ranges} per name
  std::map<std::string, bool> name_called;
  std::vector<double> range_p_adjusted;    // BH within the range's (called) name, else 1
  std::vector<bool> range_called;
};

// Simes' combined p-value of a set (1 for an empty set).
double simes(std::vector<double> p);

HierarchicalResult hierarchical_fdr(const HierarchicalInput& in, double alpha = 0.05);

}  // namespace wan::stats
