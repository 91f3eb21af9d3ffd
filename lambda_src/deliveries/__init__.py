"""The delivery sender: status-change events (and alarm-topic messages) from DeliveryQueue to each
destination that needs code (the artists' topic, chat channels' topics, webhooks), each change once
and in order (docs/notifications.md)."""
