"""`flask demo seed` without a running stack: what needs Stripe is refused before anything is made."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from webapp.models import Tenant, Transaction


def tenants(db) -> int:
    return int(db.session.scalar(select(func.count()).select_from(Tenant)))


def test_demo_seed_without_stripe_says_so_and_makes_no_tenant(app, db):
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code == 1 and "These scenarios need Stripe: start the local stack with `make run`" in result.output
    assert tenants(db) == 0


@pytest.mark.parametrize("app_overrides", [{"STRIPE_SECRET_KEY": "sk_live_pretend"}])
def test_demo_seed_refuses_a_live_stripe_key(app, db, app_overrides):
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--scenario", "monthly-cap"])
    assert result.exit_code == 1 and "LIVE" in result.output and tenants(db) == 0


def test_demo_seed_free_cap_imports_txn_1_to_51_and_prints_the_runbooks_own_loop(app, db):
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--scenario", "free-cap",
                                                "--base-url", "http://books.test:8000/"])
    assert result.exit_code == 0, result.output
    assert "for i in {1..51}; do" in result.output
    assert "-X POST http://books.test:8000/api/post/propose" in result.output
    assert """-d '{"txn_ids": ["txn_'$i'"]}'""" in result.output
    ids = set(db.session.scalars(select(Transaction.client_id)))
    assert ids == {f"txn_{i}" for i in range(1, 52)} and tenants(db) == 1


def test_demo_seed_rejects_an_unknown_scenario(app, db):
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--scenario", "everything"])
    assert result.exit_code == 2 and "everything" in result.output and tenants(db) == 0
