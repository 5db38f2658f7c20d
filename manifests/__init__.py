"""Slack and Teams app manifests and icons: data only, shipped inside the package for `stockbot teams package`."""
