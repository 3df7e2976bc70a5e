"""Server-rendered HTML for people: one page shell, the language choice, the officers'
session (cookie and CSRF) and form reading, shared by every page of the service."""
