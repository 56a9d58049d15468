FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY events ./events
COPY services ./services
COPY migrations ./migrations
# Editable: the service reads migrations/ from the source tree.
RUN pip install --no-cache-dir -e .
EXPOSE 8080
CMD ["fleetstate", "run"]
