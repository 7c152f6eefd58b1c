"""Scanning on the warehouse floor (a handheld scanner or a phone): what a code names, and
receive, pick, move and count by scanning."""
