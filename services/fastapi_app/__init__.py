"""FastAPI app shared by fastapi-async (uvicorn) and fastapi-gunicorn."""
