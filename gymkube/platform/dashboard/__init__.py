"""The researcher dashboard at `/admin`: an index of the data, its queries, sign-in, routes and actions."""
