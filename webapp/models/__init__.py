"""All models, imported here so Alembic's autogenerate sees every table."""
from webapp.models.billing import BillingAudit, BillingEvent, BillingNotice, Entitlement
from webapp.models.billing_copies import BillingCard, BillingEmail, BillingInvoice, BillingPreview
from webapp.models.bookkeeping import Account, JournalEntry, JournalLine, Transaction
from webapp.models.metering import RolloverRun, UsageDaily, UsageMonthly
from webapp.models.tenancy import ApiToken, Company, Tenant, User

__all__ = ["Account", "ApiToken", "BillingAudit", "BillingCard", "BillingEmail", "BillingEvent", "BillingInvoice", "BillingNotice",
           "BillingPreview", "Company", "Entitlement",
           "JournalEntry", "JournalLine", "RolloverRun", "Tenant", "Transaction", "UsageDaily", "UsageMonthly",
           "User"]
