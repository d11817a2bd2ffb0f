// Package internal holds helpers shared by the project's tests only.
package internal
