# Read by the flask CLI (python-dotenv): the app factory, so a `flask` command never imports wsgi.py.
FLASK_APP=webapp
