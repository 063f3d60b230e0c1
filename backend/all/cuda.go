//go:build cuda

package all

import _ "github.com/diynn/diynn/backend/cuda" // -tags cuda
