"""The WSGI entry point (`gunicorn wsgi:app`): the only module-level create_app(); starts the scheduler."""
from dotenv import load_dotenv

from webapp import create_app
from webapp.scheduler import start_scheduler

load_dotenv()  # a local .env, as the flask CLI reads it; real deployments set the environment
app = create_app()
scheduler = start_scheduler(app)  # the monthly rollover; every worker may start one, the job is guarded
