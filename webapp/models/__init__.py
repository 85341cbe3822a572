"""All models, imported here so Alembic's autogenerate sees every table."""
from webapp.models.billing import BillingAudit, BillingEvent, BillingNotice, Entitlement, EntitlementOverride
from webapp.models.billing_copies import BillingCard, BillingEmail, BillingInvoice, BillingPreview
from webapp.models.bookkeeping import Account, JournalEntry, JournalLine, PostingHistory, Transaction
from webapp.models.metering import RolloverFailure, RolloverRun, UsageDaily, UsageMonthly
from webapp.models.ops import AlertState, OpsAudit
from webapp.models.tenancy import ApiToken, Company, Tenant, User

__all__ = ["Account", "AlertState", "ApiToken", "BillingAudit", "BillingCard", "BillingEmail", "BillingEvent",
           "BillingInvoice", "BillingNotice", "BillingPreview", "Company", "Entitlement", "EntitlementOverride",
           "JournalEntry", "JournalLine", "OpsAudit", "PostingHistory", "RolloverFailure", "RolloverRun", "Tenant", "Transaction",
           "UsageDaily", "UsageMonthly", "User"]
