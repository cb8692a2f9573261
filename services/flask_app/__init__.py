"""Flask app shared by flask-sync, flask-threads and flask-gevent."""
