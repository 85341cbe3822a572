"""Human lines for the support commands: the same dicts their --json prints, made readable."""
from __future__ import annotations

from typing import Any


def _limits(eff: dict[str, Any]) -> str:
    companies = eff["included_companies"] + eff["addon_companies"]
    return (f"{eff['tx_cap']:,} posts/month · {'bulk approve' if eff['bulk_approve'] else 'one entry per commit'}"
            f" · {companies} compan{'y' if companies == 1 else 'ies'}")


def _override_line(ovr: dict[str, Any]) -> str:
    until = f" until {ovr['until']}" if ovr["until"] else " with no end date (until clear-override)"
    paid = ", or until the next paid invoice" if ovr["ends_on_paid_invoice"] else ""
    return (f"  Override: {ovr['plan']} ({ovr['subscription_status']}) since {ovr['starts_at']}{until}{paid}"
            f" — by {ovr['actor']}: \"{ovr['reason']}\"")


def _changes(before: dict[str, Any], after: dict[str, Any]) -> str:
    keys = [k for k in after if k != "override" and before.get(k) != after.get(k)]
    if (before.get("override") is None) != (after.get("override") is None):
        keys.append("override")
    parts = [f"{k} {_short(before.get(k))} → {_short(after.get(k))}" for k in keys]
    return ", ".join(parts) if parts else "no change"


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return f"{value.get('plan')} ({value.get('subscription_status')})"
    return "none" if value is None else str(value)


def event_line(e: dict[str, Any]) -> str:
    """One stored event: created, type, outcome, attempts, id, tenant, and the error if it failed."""
    line = (f"{e['created']}  {e['type']:<38} {e['outcome']:<8} attempts={e['attempts']} "
            f"deliveries={e['deliveries']}  {e['event_id']}  tenant={e['tenant_id'] or '-'}")
    return line + (f"\n    last error: {e['last_error']}" if e["last_error"] else "")


def audit_line(a: dict[str, Any]) -> str:
    """One audit row: when, what, who, why, and what changed."""
    why = f" — \"{a['reason']}\"" if a["reason"] else ""
    event = f" ({a['event_id']})" if a["event_id"] else ""
    return f"{a['created_at']}  {a['action']} by {a['actor']}{event}{why}: {_changes(a['before'], a['after'])}"


def show_lines(s: dict[str, Any]) -> list[str]:
    """`flask billing show`."""
    t, eff, rec, now, use = s["tenant"], s["effective"], s["stripe_recorded"], s["stripe_now"], s["usage"]
    lines = [f"Tenant {t['id']} ({t['name']}) — users: {', '.join(t['users']) or 'none'}",
             f"Effective: {eff['plan']} ({eff['subscription_status']}, {'active' if eff['active'] else 'inactive'})"
             f" · {_limits(eff)}" + (" — set by an override" if eff["override"] else " — as Stripe says")]
    if eff["override"]:
        lines.append(_override_line(eff["override"]))
    lines += [f"  ! {w}" for w in s["warnings"]]
    lines.append(f"Stripe (recorded): {rec['plan']} · {rec['subscription_status']} · active={rec['active']}"
                 f" · customer {rec['stripe_customer_id'] or '-'} · subscription {rec['stripe_subscription_id'] or '-'}"
                 f" · period end {rec['current_period_end'] or '-'}"
                 + (" · cancels at period end" if rec["cancel_at_period_end"] else ""))
    if now["checked"] and not now["error"]:
        agree = "" if (now["status"], now["plan"]) == (rec["subscription_status"], rec["plan"]) else \
            "  ! differs from what is recorded: `flask billing reconcile " + t["id"] + "`"
        unlinked = now["subscription_id"] != rec["stripe_subscription_id"]
        lines.append(f"Stripe (now): {now['plan']} · {now['status']} · period end {now['current_period_end'] or '-'}"
                     + (" · cancels at period end" if now["cancel_at_period_end"] else "")
                     + (f" · subscription {now['subscription_id']} is not linked here" if unlinked else "") + agree)
    else:
        lines.append(f"Stripe (now): {now['error']}")
    today = use["today"]
    lines.append(f"Usage {use['year_month']}: {use['tx_posted']:,} of {use['tx_cap']:,} posted · "
                 f"{use['tx_analyzed']:,} analysed; today {today['day']}: {today['tx_analyzed']} analysed"
                 + (f" of {today['limit']} free" if today["limit"] is not None else " (no daily limit)"))
    lines.append(f"Companies: {s['companies']['count']} of {s['companies']['allowed']} allowed")
    lines.append(f"Last {len(s['events'])} event(s):" if s["events"] else "Events: none stored for this tenant")
    lines += ["  " + event_line(e) for e in s["events"]]
    lines.append(f"Last {len(s['audit'])} audit row(s):" if s["audit"] else "Audit: no rows")
    lines += ["  " + audit_line(a) for a in s["audit"]]
    return lines


def events_lines(result: dict[str, Any]) -> list[str]:
    """`flask billing events`."""
    rows = result["events"]
    if not rows:
        return ["No events match."]
    return [event_line(e) for e in rows] + [f"{len(rows)} event(s), newest first"]


def override_lines(change: dict[str, Any]) -> list[str]:
    """`set-entitlement`, `clear-override`: what the effective entitlement was and is."""
    if change["action"] == "nothing_to_clear":
        return [f"No override for {change['tenant_id']}: nothing to clear."]
    verb = "Would set" if change["dry_run"] else "Set"
    if change["action"] == "clear_override":
        verb = "Would clear" if change["dry_run"] else "Cleared"
    lines = [f"{verb} override for {change['tenant_id']}: {_changes(change['before'], change['after'])}"]
    ovr = change["after"]["override"]
    if ovr:
        lines.append(_override_line(ovr))
    lines += [f"! {w}" for w in change["warnings"]]
    if change["dry_run"]:
        lines.append("(dry run: nothing saved)")
    return lines


def usage_reset_lines(result: dict[str, Any]) -> list[str]:
    """`flask usage reset`."""
    if not result["changed"]:
        return [f"Nothing to reset for {result['tenant_id']} ({result['year_month']}): the counters are already 0."]
    verb = "Would reset" if result["dry_run"] else "Reset"
    parts = [f"{k} {result['before'][k]} → {result['after'][k]}" for k in result["before"]
             if result["before"][k] != result["after"][k]]
    return [f"{verb} usage for {result['tenant_id']} ({result['year_month']}, today {result['day']}): "
            + ", ".join(parts)] + (["(dry run: nothing saved)"] if result["dry_run"] else [])
