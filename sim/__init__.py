"""The simulator: replays recorded calls and scripted callers through the real engine on a virtual clock."""
