"""Server-rendered hosted pages: checkout, billing portal, events."""
