"""The WSGI entry point (`gunicorn wsgi:app`): the only module-level create_app()."""
from dotenv import load_dotenv

from webapp import create_app

load_dotenv()  # a local .env, as the flask CLI reads it; real deployments set the environment
app = create_app()
