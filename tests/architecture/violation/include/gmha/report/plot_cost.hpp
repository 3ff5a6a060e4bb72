#pragma once
// Fixture of architecture.include_graph_finds_a_crossing (never compiled): the presentation
// layer reaching into capacity, which docs/architecture.md forbids.
#include "gmha/capacity/cost.hpp"
#include "gmha/core/error.hpp"
