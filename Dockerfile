# Custody's Airflow image: the official Airflow image at the version pinned in constraints.txt,
# with the project's requirements installed at build time (no pip at container start).
# Build: docker compose build (or docker build --build-arg AIRFLOW_VERSION=3.3.2 -t custody-airflow .)
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}

# Dependencies first, so a code change does not reinstall them. The constraints file pins every
# package (Airflow itself included, so the image's Airflow is kept).
COPY --chown=airflow:0 requirements.txt requirements-nodeps.txt constraints.txt /opt/custody/
RUN pip install --no-cache-dir -r /opt/custody/requirements.txt -c /opt/custody/constraints.txt \
 && pip install --no-cache-dir --no-deps -r /opt/custody/requirements-nodeps.txt -c /opt/custody/constraints.txt

# The code: the core package, the DAGs and the plugins (bind mounts in docker-compose.yaml may
# override them during development).
COPY --chown=airflow:0 include /opt/airflow/include
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
ENV PYTHONPATH=/opt/airflow/include \
    GX_ANALYTICS_ENABLED=false

# Mount points of the named volumes exist in the image, owned by the airflow user (group 0), so a
# new volume starts with that owner instead of root; airflow-init re-owns them to AIRFLOW_UID.
USER root
RUN mkdir -p /opt/airflow/custody /opt/airflow/custody-keys /opt/airflow/logs \
 && chown -R airflow:0 /opt/airflow/custody /opt/airflow/custody-keys /opt/airflow/logs \
 && chmod 0770 /opt/airflow/custody && chmod 0700 /opt/airflow/custody-keys
USER airflow
