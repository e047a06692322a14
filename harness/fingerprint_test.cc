// The fingerprint class: add_class_field (case_fingerprint's cuDNN keying, which loads cuDNN, is
// in fingerprint_cudnn_test.cc).
#include "harness/fingerprint.h"

#include <gtest/gtest.h>


namespace wan {
namespace {

TEST(Fingerprint, AddedClassFieldChangesTheClassAndIsNamedInTheDifference) {
  const Fingerprint base = make_fingerprint(Device::cpu());
  Fingerprint a = base, b = base, c = base;
  add_class_field(a, "cudnn_version", 91400);
  add_class_field(b, "cudnn_version", 91400);
  add_class_field(c, "cudnn_version", 91900);
  EXPECT_NE(a.class_id, base.class_id);
  EXPECT_EQ(a.class_id, b.class_id);  // a pure function of the class fields
  EXPECT_NE(a.class_id, c.class_id);
  EXPECT_EQ(a.fields["class_id"], a.class_id);
  EXPECT_EQ(a.fields["cudnn_version"], 91400);
  EXPECT_EQ(describe_class_difference(a.class_fields, c.class_fields), "cudnn_version: 91400 -> 91900");
  EXPECT_EQ(describe_class_difference(base.class_fields, a.class_fields), "cudnn_version: (absent) -> 91400");
  Fingerprint again = base;
  add_class_field(again, "", nullptr);  // recomputes only
  EXPECT_EQ(again.class_id, base.class_id);
}

}  // namespace
}  // namespace wan
