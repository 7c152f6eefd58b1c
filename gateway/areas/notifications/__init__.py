"""The notifier's delivery log: what was sent to whom, how often, and a failed one sent again."""
