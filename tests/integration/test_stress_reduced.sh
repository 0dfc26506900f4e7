#!/bin/bash
# The long catalogue cases (tests/stress/run.sh) in their reduced form, so that every run of
# the suite exercises them: 30 sequential steps (LD-06), a 4-way cold import (LD-01) and
# 6 s of a symlink flipper on the cache while steps start (PB-03/BO-05). The full form
# (1500 steps, 32 importers, 5 minutes) is `tests/stress/run.sh`.
exec bash "$(dirname "$0")/../stress/run.sh" --reduced
