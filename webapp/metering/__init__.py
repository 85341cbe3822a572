"""Usage metering: monthly and daily counters behind the entitlement gate."""
from flask import Blueprint

bp = Blueprint("metering", __name__)
