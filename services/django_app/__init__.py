"""One Django project, served over WSGI (django-wsgi) and ASGI (django-asgi)."""
