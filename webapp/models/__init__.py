"""All models, imported here so Alembic's autogenerate sees every table."""
from webapp.models.billing import Entitlement
from webapp.models.tenancy import ApiToken, Company, Tenant, User

__all__ = ["ApiToken", "Company", "Entitlement", "Tenant", "User"]
