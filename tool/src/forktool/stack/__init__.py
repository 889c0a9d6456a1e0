"""The pieces a test or benchmark stack is made of, each on 127.0.0.1: Airflow, sshd, Redis,
Chromium, a latency proxy, and the SFTP data set they are checked against."""
