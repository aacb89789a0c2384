#include "smtp/in_flight_budget.h"

#include <gtest/gtest.h>

#include <utility>

namespace herald {
namespace {

TEST(InFlightBudget, ChargesUpToTheMaximumAndNoFurther) {
  InFlightBudget budget(100);
  EXPECT_TRUE(budget.try_charge(60));
  EXPECT_FALSE(budget.try_charge(41));
  EXPECT_TRUE(budget.try_charge(40));
  EXPECT_TRUE(budget.exhausted());
  budget.release(100);
  EXPECT_EQ(budget.in_use(), 0u);
}

TEST(InFlightCharge, GrowsReleasesOnDestructionAndTravelsWhenMoved) {
  InFlightBudget budget(100);
  InFlightCharge moved;
  {
    InFlightCharge charge(&budget);
    EXPECT_TRUE(charge.grow_to(30));
    EXPECT_TRUE(charge.grow_to(70));
    EXPECT_FALSE(charge.grow_to(101));
    EXPECT_EQ(budget.in_use(), 70u);
    moved = std::move(charge);
  }
  EXPECT_EQ(budget.in_use(), 70u);
  moved.reset();
  EXPECT_EQ(budget.in_use(), 0u);
}

TEST(InFlightCharge, WithoutABudgetNothingIsCounted) {
  InFlightCharge charge;
  EXPECT_TRUE(charge.grow_to(1'000'000'000));
}

}  // namespace
}  // namespace herald
