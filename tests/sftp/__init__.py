"""Fault tests of the fork's SFTP pool against a real sshd (a package, so its conftest shadows no other)."""
