"""Slack and Teams app manifests and icons: data only, shipped as package data for `stockbot teams`."""
