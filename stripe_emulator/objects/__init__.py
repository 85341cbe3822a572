"""Builders of Stripe-shaped objects, one module per resource family."""
