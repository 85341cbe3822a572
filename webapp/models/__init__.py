"""All models, imported here so Alembic's autogenerate sees every table."""
from webapp.models.billing import BillingAudit, BillingEvent, BillingNotice, Entitlement
from webapp.models.tenancy import ApiToken, Company, Tenant, User

__all__ = ["ApiToken", "BillingAudit", "BillingEvent", "BillingNotice", "Company", "Entitlement", "Tenant",
           "User"]
