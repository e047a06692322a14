// Hierarchical FDR: Simes against worked values; a change in ONE range of a kernel launched in
// 30 ranges is called (name, then range) while its unchanged siblings are not; nothing is
// called when the root is not rejected; and on simulated A/A families (30 names x 30 ranges,
// uniform p-values) false calls stay rare.
#include "harness/hierarchy.h"

#include <cstdio>
#include <random>

#include <gtest/gtest.h>

namespace wan::stats {
namespace {

TEST(Hierarchy, SimesWorkedExample) {
  EXPECT_DOUBLE_EQ(simes({0.01, 0.04, 0.03}), 0.03);  // min(3*0.01/1, 3*0.03/2, 3*0.04/3) = 0.03
  EXPECT_DOUBLE_EQ(simes({0.5}), 0.5);
  EXPECT_DOUBLE_EQ(simes({}), 1.0);
}

TEST(Hierarchy, OneRangeOfAManyRangeKernelIsFound) {
  HierarchicalInput in;
  for (int name = 0; name < 25; ++name) {
    const std::string n = "k" + std::to_string(name);
    in.name_p[n] = name == 3 ? 0.2 : 1.0;  // the aggregate of k3 barely moves
    for (int range = 0; range < 30; ++range) {
      in.range_name.push_back(n);
      in.range_p.push_back(name == 3 && range == 12 ? 3e-13 : 1.0);
    }
  }
  const HierarchicalResult r = hierarchical_fdr(in);
  EXPECT_LT(r.root_p, 1e-9);
  EXPECT_TRUE(r.name_called.at("k3"));
  int called = 0;
  for (size_t i = 0; i < in.range_p.size(); ++i) called += r.range_called[i];
  EXPECT_EQ(called, 1);
  EXPECT_TRUE(r.range_called[3 * 30 + 12]);
  EXPECT_FALSE(r.name_called.at("k4"));
}

TEST(Hierarchy, NothingIsCalledBelowAnUnrejectedRoot) {
  HierarchicalInput in;
  in.name_p["a"] = 0.04;
  in.name_p["b"] = 0.3;
  in.range_name = {"a", "a", "b"};
  in.range_p = {0.04, 0.5, 0.3};
  const HierarchicalResult r = hierarchical_fdr(in);  // Simes(node a ~0.04*? , b) >= 0.05
  EXPECT_GE(r.root_p, 0.05);
  for (bool c : r.range_called) EXPECT_FALSE(c);
}

TEST(Hierarchy, AaFamiliesRarelyCallAnything) {
  std::mt19937_64 gen(3);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  int trials_with_calls = 0;
  const int trials = 2000;  // P(any call) = P(root Simes < alpha) = 5% under independence
  for (int t = 0; t < trials; ++t) {
    HierarchicalInput in;
    for (int name = 0; name < 30; ++name) {
      const std::string n = "k" + std::to_string(name);
      in.name_p[n] = u(gen);
      for (int range = 0; range < 30; ++range) {
        in.range_name.push_back(n);
        in.range_p.push_back(u(gen));
      }
    }
    const HierarchicalResult r = hierarchical_fdr(in);
    bool any = false;
    for (bool c : r.range_called) any |= c;
    for (const auto& [n, c] : r.name_called) any |= c;
    trials_with_calls += any;
  }
  std::printf("A/A: trials with any call %d of %d\n", trials_with_calls, trials);
  EXPECT_LE(trials_with_calls, trials * 6 / 100);  // 5% plus 2.4 standard errors of 2000 trials
}

}  // namespace
}  // namespace wan::stats
