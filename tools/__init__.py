"""Typed tools of the shipped agents, over a small bundled data set with a fixed reference date.

Every `create_tools()` binds to a fresh copy of its data; nothing here may read the wall clock or the network.
"""
