"""Billing behaviour: test cards, invoices, subscription lifecycle, checkout, clock advance."""
