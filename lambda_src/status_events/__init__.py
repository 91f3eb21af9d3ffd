"""The status-change publisher (the second Lambda's code, handler status_events.handler.main).

The job and task tables stream every change of a stored item (NEW_AND_OLD_IMAGES).
A stored item changes only when a newer notification arrives, so its changes are
de-duplicated and in order per key; `changes` turns each into an EventBridge entry
(or none), `publisher` puts them on the stack's bus, retrying what fails.
"""
